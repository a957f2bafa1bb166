"""Operators: named people of an account, each signing in to the console with a token of their
own (scope ``operator``). They work the conversations (take over, answer, notes) under their
name; the account's settings pages and the API stay the admins'. A conversation assigned to one
operator is answered by that one alone: two operators in Chromium at once see an assignment
live, and the customer gets one answer."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import Tenant
from tests.console.conftest import Console, browser_sign_in, csrf_token, sign_in

ADMIN_PAGES = [
    "/console/assistants",
    "/console/assistants/new",
    "/console/usage",
    "/console/webhooks",
    "/console/channels",
    "/console/tokens",
]


async def operator_token(tenant: Tenant, name: str | None = "Anna") -> httpx.Response:
    return await tenant.client.post("/api/tokens", json={"scope": "operator", "name": name})


@pytest.fixture
async def operator_console(tenant: Tenant, server: str) -> Any:
    """``await operator_console(name)``: the tenant's operator of that name, signed in to the
    console; returns the Console and the token as created."""
    clients: list[httpx.AsyncClient] = []

    async def open(name: str) -> tuple[Console, dict[str, Any]]:
        created = await operator_token(tenant, name)
        assert created.status_code == 200, created.text
        client = httpx.AsyncClient(base_url=server, timeout=30)
        clients.append(client)
        signed_in = await sign_in(client, created.json()["api_token"])
        assert signed_in.status_code == 303, signed_in.text
        page = await client.get("/console/conversations")
        return Console(client, csrf_token(page.text)), created.json()

    yield open
    for client in clients:
        await client.aclose()


@pytest.fixture
async def anna(operator_console: Any) -> Any:
    return await operator_console("Anna")


async def test_an_operator_works_a_conversation_under_their_name(tenant: Tenant, anna: Any) -> None:
    console, token = anna
    conversation_id = (await tenant.reply("Where is my parcel?")).json()["conversation_id"]
    path = f"/console/conversations/{conversation_id}"

    assert (await console.post(f"{path}/take-over")).status_code == 303
    assert (await console.post(f"{path}/messages", {"message": "Anna here: it left today."})).status_code == 303
    assert (await console.post(f"{path}/notes", {"note": "Checked with the warehouse."})).status_code == 303

    page = (await console.client.get(path)).text
    assert "Signed in as Anna" in page
    assert f"Anna (console token {token['token_id']})" in page  # the note's author
    state = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()
    assert state["ai_enabled"] is False
    assert state["history"][-1] | {"created_at": None} == state["history"][-1] | {
        "author": "agent",
        "content": "Anna here: it left today.",
        "created_at": None,
    }


async def test_the_accounts_settings_are_the_admins_and_out_of_an_operators_sight(tenant: Tenant, anna: Any) -> None:
    console, _ = anna
    start = (await console.client.get("/console/conversations")).text

    for path in ADMIN_PAGES:
        refused = await console.client.get(path)
        assert refused.status_code == 403, path
        assert "This page is for the account" in refused.text
        assert f'href="{path}"' not in start
    created = await console.post("/console/tokens", {"scope": "admin", "name": "", "rate_limit": ""})
    assert created.status_code == 403
    assert "Canned replies" in start


async def test_an_operator_token_opens_no_api(tenant: Tenant, anna: Any, server: str) -> None:
    _, token = anna
    async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token['api_token']}"}) as api:
        read = await api.get("/api/user/conversations")
        body = {"assistant_id": tenant.assistant_id, "customer_identifier": "+4915550030", "message": "hi"}
        reply = await api.post("/api/ai/generate-reply", json=body)

    for refused in (read, reply):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == (
            "An operator token signs in to the console only; the API takes replies and admin tokens."
        )


async def test_an_operator_token_needs_a_name(tenant: Tenant) -> None:
    refused = await operator_token(tenant, name="   ")

    assert refused.status_code == 422
    assert refused.json()["details"] == [
        {"field": "name", "message": "must be given for an operator token: whose is it?"}
    ]
    assert [t["scope"] for t in (await tenant.client.get("/api/tokens")).json()["data"]] == ["admin"]


async def agents_messages(tenant: Tenant, conversation_id: str) -> list[str]:
    history = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()["history"]
    return [m["content"] for m in history if m["author"] == "agent"]


async def test_only_the_operator_a_conversation_is_assigned_to_answers_it(
    tenant: Tenant, operator_console: Any
) -> None:
    (anna, _), (ben, _) = await operator_console("Anna"), await operator_console("Ben")
    conversation_id = (await tenant.reply("My order is late.")).json()["conversation_id"]
    path = f"/console/conversations/{conversation_id}"

    assert (await anna.post(f"{path}/assign")).status_code == 303
    refused = await ben.post(f"{path}/messages", {"message": "Ben here!"})
    answered = await anna.post(f"{path}/messages", {"message": "Anna here."})

    assert refused.status_code == 409
    assert "Anna is handling this conversation; assign it to yourself first to answer." in refused.text
    assert "Ben here!" in refused.text  # kept in the field
    assert answered.status_code == 303
    assert await agents_messages(tenant, conversation_id) == ["Anna here."]
    assert "Assigned to Anna" in (await ben.client.get(path)).text
    assert (await anna.post(f"{path}/unassign")).status_code == 303
    assert (await ben.post(f"{path}/messages", {"message": "Ben takes it."})).status_code == 303  # and so claims it
    assert "Assigned to you" in (await ben.client.get(path)).text
    assert "Assigned to Ben" in (await anna.client.get(path)).text
    assert await agents_messages(tenant, conversation_id) == ["Anna here.", "Ben takes it."]


async def test_another_accounts_conversation_cannot_be_assigned(make_tenant: Callable[..., Any], anna: Any) -> None:
    console, _ = anna
    theirs: Tenant = await make_tenant()
    conversation_id = (await theirs.reply("private")).json()["conversation_id"]

    for action in ("assign", "unassign"):
        assert (await console.post(f"/console/conversations/{conversation_id}/{action}")).status_code == 404


async def anna_and_ben_on(tenant: Tenant, new_page: Callable[..., Any], conversation_id: str) -> tuple[Page, Page]:
    """Two operators of the tenant, Anna and Ben, each signed in in a browser of their own on
    the conversation's page."""
    tokens = [(await operator_token(tenant, name)).json()["api_token"] for name in ("Anna", "Ben")]
    anna, ben = await new_page(), await new_page()
    for page, token in zip((anna, ben), tokens, strict=True):
        await browser_sign_in(page, token)
        await page.goto(f"/console/conversations/{conversation_id}")
    return anna, ben


async def test_two_operators_at_once_see_an_assignment_live_and_never_answer_twice(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Can someone help me?")).json()["conversation_id"]
    anna, ben = await anna_and_ben_on(tenant, new_page, conversation_id)
    await expect(ben.locator("[data-live-status]")).to_contain_text("Live")

    await anna.get_by_role("button", name="Assign to me").click()
    await expect(anna.locator("[data-assigned]")).to_have_text("Assigned to you")
    await expect(ben.locator("[data-assigned]")).to_have_text("Assigned to Anna")  # live: Ben did not reload
    await ben.get_by_label("Message to the customer").fill("Ben here!")
    await ben.get_by_role("button", name="Send as agent").click()
    await expect(ben.get_by_role("alert")).to_contain_text("Anna is handling this conversation")
    await anna.get_by_label("Message to the customer").fill("Anna here, let me look.")
    await anna.get_by_role("button", name="Send as agent").click()

    await expect(ben.locator(".message-agent .message-text")).to_have_text(["Anna here, let me look."])
    assert await agents_messages(tenant, conversation_id) == ["Anna here, let me look."]


async def test_the_list_shows_an_operators_own_conversations_and_the_unassigned(
    tenant: Tenant, operator_console: Any
) -> None:
    (anna, _), (ben, _) = await operator_console("Anna"), await operator_console("Ben")
    annas, bens, nobodys = [
        (await tenant.reply("Hi", customer=f"+49155500{n}")).json()["conversation_id"] for n in (41, 42, 43)
    ]
    await anna.post(f"/console/conversations/{annas}/assign")
    await ben.post(f"/console/conversations/{bens}/assign")

    mine = (await anna.client.get("/console/conversations", params={"assigned": "me"})).text
    unassigned = (await anna.client.get("/console/conversations", params={"assigned": "nobody"})).text

    assert annas in mine and bens not in mine and nobodys not in mine
    assert nobodys in unassigned and annas not in unassigned and bens not in unassigned
