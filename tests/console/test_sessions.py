"""Console sign-in over plain HTTP: which tokens may sign in, the session cookie's flags,
CSRF on every form, signing out, and revoked tokens."""

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store import accounts
from replyd.store.console_sessions import ConsoleSession, hash_session_id
from tests.conftest import Tenant
from tests.console.conftest import Console, csrf_token, sign_in


def cookie_named(response: httpx.Response, name: str) -> Any:
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie[name]
    return None


async def replies_token(db: async_sessionmaker[AsyncSession], tenant: Tenant) -> str:
    async with db() as session, session.begin():
        token = await accounts.create_token(session, tenant.account_id, scope="replies")
    return token.secret


async def test_an_admin_token_signs_in_with_an_httponly_strict_cookie_holding_no_token(
    tenant: Tenant, server: str, db: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        response = await sign_in(client, tenant.token)
    assert response.status_code == 303 and response.headers["location"] == "/console/conversations"
    cookie = cookie_named(response, "replyd_console")
    assert cookie is not None
    assert cookie["httponly"] is True and cookie["samesite"].lower() == "strict" and cookie["path"] == "/console"
    assert not cookie["secure"], "over plain HTTP the cookie cannot be Secure"
    assert tenant.token not in cookie.value and tenant.token not in str(response.headers)
    async with db() as session:
        stored = (await session.scalars(select(ConsoleSession))).all()
    assert all(row.session_sha256 != cookie.value for row in stored), "the session id is stored hashed"
    assert any(row.session_sha256 == hash_session_id(cookie.value) for row in stored)


async def test_the_session_cookie_is_secure_when_the_request_came_over_https(tenant: Tenant, server: str) -> None:
    https = {"X-Forwarded-Proto": "https"}  # uvicorn trusts it from 127.0.0.1, as behind a TLS proxy
    async with httpx.AsyncClient(base_url=server) as client:
        form = await client.get("/console/sign-in", headers=https)
        double_submit = cookie_named(form, "replyd_console_signin")
        assert double_submit["secure"] is True
        response = await client.post(
            "/console/sign-in",
            data={"token": tenant.token, "csrf_token": csrf_token(form.text)},
            # over http httpx keeps Secure cookies to itself; a browser on https would send it
            headers=https | {"Cookie": f"replyd_console_signin={double_submit.value}"},
        )
    assert response.status_code == 303
    cookie = cookie_named(response, "replyd_console")
    assert cookie["secure"] is True and cookie["httponly"] is True and cookie["samesite"].lower() == "strict"


async def test_a_replies_token_cannot_sign_in(
    tenant: Tenant, server: str, db: async_sessionmaker[AsyncSession]
) -> None:
    secret = await replies_token(db, tenant)
    async with httpx.AsyncClient(base_url=server) as client:
        response = await sign_in(client, secret)
        assert response.status_code == 403
        assert "replies token" in response.text
        assert cookie_named(response, "replyd_console") is None
        assert (await client.get("/console/conversations")).status_code == 303


async def test_an_unknown_or_revoked_token_cannot_sign_in(
    tenant: Tenant, server: str, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        await accounts.revoke_token(session, tenant.token_id)
    async with httpx.AsyncClient(base_url=server) as client:
        for token in (tenant.token, "rpd_not-a-token", ""):
            response = await sign_in(client, token)
            assert response.status_code == 401, token
            assert cookie_named(response, "replyd_console") is None


async def test_the_sign_in_form_without_its_csrf_token_is_refused(tenant: Tenant, server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        await client.get("/console/sign-in")  # the browser has the double-submit cookie ...
        response = await client.post("/console/sign-in", data={"token": tenant.token})  # ... the form lacks it
        assert response.status_code == 403
        assert cookie_named(response, "replyd_console") is None
    async with httpx.AsyncClient(base_url=server) as stranger:  # a value the browser's cookie does not hold
        response = await stranger.post("/console/sign-in", data={"token": tenant.token, "csrf_token": "x" * 32})
        assert response.status_code == 403


async def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hello")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    path = f"/console/conversations/{conversation_id}"
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged-" + console.csrf[7:]}):
        refused = await console.client.post(f"{path}/take-over", data=data)
        assert refused.status_code == 403, data
        assert "CSRF" in refused.text
    message = await console.client.post(f"{path}/messages", data={"message": "sneaky"})
    assert message.status_code == 403
    conversation = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()
    assert conversation["ai_enabled"] is True
    assert [m["content"] for m in conversation["history"]] == ["Hello", "echo: Hello"]


async def test_a_csrf_token_of_another_session_is_refused(tenant: Tenant, open_console: Callable[..., Any]) -> None:
    conversation_id = (await tenant.reply("Hello")).json()["conversation_id"]
    first: Console = await open_console(tenant)
    second: Console = await open_console(tenant)
    assert first.csrf != second.csrf
    response = await first.client.post(
        f"/console/conversations/{conversation_id}/take-over", data={"csrf_token": second.csrf}
    )
    assert response.status_code == 403


async def test_sign_out_ends_the_session_for_good(tenant: Tenant, open_console: Callable[..., Any]) -> None:
    console: Console = await open_console(tenant)
    old_cookie = console.client.cookies["replyd_console"]
    without_csrf = await console.client.post("/console/sign-out")
    assert without_csrf.status_code == 403
    assert (await console.client.get("/console/conversations")).status_code == 200
    response = await console.post("/console/sign-out")
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"
    cleared = cookie_named(response, "replyd_console")
    assert cleared is not None and cleared.value == "" and cleared["max-age"] == "0"
    console.client.cookies.set("replyd_console", old_cookie, path="/console")  # replaying the old cookie
    again = await console.client.get("/console/conversations")
    assert again.status_code == 303 and again.headers["location"].startswith("/console/sign-in")


async def test_revoking_the_token_ends_its_console_sessions(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    console: Console = await open_console(tenant)
    assert (await console.client.get("/console/usage")).status_code == 200
    async with db() as session, session.begin():
        await accounts.revoke_token(session, tenant.token_id)
    response = await console.client.get("/console/usage")
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in?next=/console/usage"


async def test_pages_redirect_to_sign_in_and_fragments_answer_401_without_a_session(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        page = await client.get("/console/assistants")
        assert page.status_code == 303 and page.headers["location"] == "/console/sign-in?next=/console/assistants"
        fragment = await client.get("/console/conversations/rows", headers={"X-Console-Fragment": "1"})
        assert fragment.status_code == 401
        assert (await client.get("/console/events")).status_code == 401
        assert (await client.get("/console")).headers["location"] == "/console/conversations"


async def test_after_sign_in_the_browser_goes_where_it_was_sent_but_never_off_site(tenant: Tenant, server: str) -> None:
    for target, expected in (
        ("/console/usage", "/console/usage"),
        ("https://evil.example/", "/console/conversations"),
        ("//evil.example/console/", "/console/conversations"),
    ):
        async with httpx.AsyncClient(base_url=server) as client:
            form = await client.get("/console/sign-in")
            response = await client.post(
                "/console/sign-in", data={"token": tenant.token, "csrf_token": csrf_token(form.text), "next": target}
            )
        assert response.headers["location"] == expected, target


async def test_console_pages_carry_a_strict_content_security_policy(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    response = await console.client.get("/console/conversations")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
