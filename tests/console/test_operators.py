"""Operators: named people of an account, each signing in to the console with a token of their
own (scope ``operator``). They work the conversations (take over, answer, notes) under their
name; the account's settings pages and the API stay the admins'."""

from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.console.conftest import Console, csrf_token, sign_in

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
async def anna(tenant: Tenant, server: str) -> Any:
    """The tenant's operator Anna, signed in to the console."""
    created = await operator_token(tenant)
    assert created.status_code == 200, created.text
    client = httpx.AsyncClient(base_url=server, timeout=30)
    signed_in = await sign_in(client, created.json()["api_token"])
    assert signed_in.status_code == 303, signed_in.text
    page = await client.get("/console/conversations")
    yield Console(client, csrf_token(page.text)), created.json()
    await client.aclose()


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
