"""The rules every JSON body obeys, on every endpoint that reads one: text is valid Unicode
(no lone UTF-16 surrogate) and objects and arrays nest at most 64 levels. A body breaking
them is refused in the envelope, and nothing is stored."""

import json
from typing import Any

import pytest
from sqlalchemy import update

from replyd.json_rules import MAX_DEPTH
from replyd.store.tables import Assistant
from tests.api.test_errors import assert_error, detail_fields
from tests.conftest import Snapshot, Tenant
from tests.servers import StubModel

LONE = "\ud800"
"""Sent as the JSON escape ``\\ud800``: valid JSON, but not Unicode text."""


async def post(tenant: Tenant, path: str, body: dict[str, Any], method: str = "POST") -> Any:
    """``body`` as ASCII JSON text, escapes and all (httpx's ``json=`` cannot encode a lone surrogate)."""
    content = json.dumps(body).encode()
    return await tenant.client.request(method, path, content=content, headers={"Content-Type": "application/json"})


def nested(levels: int, leaf: Any = 1) -> Any:
    """``levels`` levels of objects, the innermost holding ``leaf``."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


async def widget_chat(tenant: Tenant) -> str:
    started = await tenant.client.post("/api/conversations", json={"assistant_id": tenant.assistant_id})
    conversation_id: str = started.json()["conversation_id"]
    return conversation_id


REPLY_CASES = [
    ({"message": f"hi {LONE}"}, "message"),
    ({"customer_identifier": f"c{LONE}"}, "customer_identifier"),
    ({"variables": {"k": LONE}}, "variables.k"),
    ({"variables": {"k": "\udfff and more"}}, "variables.k"),
    ({"variables": {f"k{LONE}": "v"}}, "variables.k\\ud800"),
    ({"channel": LONE}, "channel"),  # ignored fields too: nothing is let through unread
]


@pytest.mark.parametrize(("change", "field"), REPLY_CASES)
async def test_a_lone_surrogate_in_a_reply_request_is_refused_naming_the_field(
    tenant: Tenant, snapshot: Any, change: dict[str, Any], field: str
) -> None:
    await tenant.reply("first")
    before: Snapshot = await snapshot(tenant.account_id)
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": "+49155551234", "message": "hi"} | change
    error = assert_error(await post(tenant, "/api/ai/generate-reply", body), 422, "VALIDATION_ERROR")
    assert detail_fields(error) == [field]
    assert "valid Unicode text" in error["details"][0]["message"]
    assert await snapshot(tenant.account_id) == before
    listed = await tenant.client.get("/api/user/conversations")
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/conversations", {"type": "widget", "variables": {"name": LONE}}, "variables.name"),
        ("/api/conversations/{id}/messages", {"message": LONE}, "message"),
        ("/api/conversations/{id}/agent-messages", {"message": f"Hello {LONE}"}, "message"),
    ],
)
async def test_a_lone_surrogate_in_a_conversation_body_is_refused(
    tenant: Tenant, snapshot: Any, path: str, body: dict[str, Any], field: str
) -> None:
    conversation_id = await widget_chat(tenant)
    before: Snapshot = await snapshot(tenant.account_id)
    response = await post(tenant, path.format(id=conversation_id), {"assistant_id": tenant.assistant_id} | body)
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == [field]
    assert await snapshot(tenant.account_id) == before


BOOK = {"name": "book", "url": "https://crm.example.com/book"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": f"Sales {LONE}"}, "name"),
        ({"system_prompt": LONE}, "system_prompt"),
        ({"first_message": LONE}, "first_message"),
        ({"functions": [BOOK | {"description": LONE}]}, "functions.0.description"),
        ({"functions": [BOOK | {"headers": {"X-Key": LONE}}]}, "functions.0.headers.X-Key"),
        ({"functions": [BOOK | {"parameters": {"type": "object", "title": LONE}}]}, "functions.0.parameters.title"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_lone_surrogate_in_assistant_settings_is_refused(
    tenant: Tenant, body: dict[str, Any], field: str, method: str
) -> None:
    before = (await tenant.client.get("/api/assistants")).json()
    path = "/api/assistants" if method == "POST" else f"/api/assistants/{tenant.assistant_id}"
    response = await post(tenant, path, {"name": "Sales"} | body, method)
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == [field]
    assert (await tenant.client.get("/api/assistants")).json() == before


async def test_every_broken_string_is_listed_and_nul_keeps_its_own_message(tenant: Tenant) -> None:
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": "\x00", "message": LONE}
    error = assert_error(await post(tenant, "/api/ai/generate-reply", body), 422, "VALIDATION_ERROR")
    messages = {d["field"]: d["message"] for d in error["details"]}
    assert "NUL" in messages["customer_identifier"] and "valid Unicode text" in messages["message"]


async def test_a_valid_surrogate_pair_is_ordinary_text(tenant: Tenant, snapshot: Any) -> None:
    response = await post(
        tenant,
        "/api/ai/generate-reply",
        {
            "assistant_id": tenant.assistant_id,
            "customer_identifier": "c",
            "message": "\U0001f600",
            "variables": {"e": "\U0001f600"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["reply"] == "echo: \U0001f600"


async def test_nesting_up_to_the_limit_is_read_and_one_level_more_is_refused(tenant: Tenant, snapshot: Any) -> None:
    before: Snapshot = await snapshot(tenant.account_id)
    at_limit = {"assistant_id": tenant.assistant_id, "customer_identifier": "c", "message": "hi"}
    at_limit["variables"] = nested(MAX_DEPTH - 1)  # the body itself is the first level
    error = assert_error(await tenant.client.post("/api/ai/generate-reply", json=at_limit), 422, "VALIDATION_ERROR")
    assert detail_fields(error) == ["variables"]  # read, then refused: variables must be flat
    too_deep = at_limit | {"variables": nested(MAX_DEPTH)}
    error = assert_error(await tenant.client.post("/api/ai/generate-reply", json=too_deep), 422, "NESTING_TOO_DEEP")
    assert "64" in error["error"] and "variables" in error["error"]
    assert await snapshot(tenant.account_id) == before


@pytest.mark.parametrize("field", ["variables", "message", "customer_identifier"])
async def test_json_nested_beyond_what_python_can_parse_is_refused_not_a_500(
    tenant: Tenant, snapshot: Any, field: str
) -> None:
    before: Snapshot = await snapshot(tenant.account_id)
    deep = "[" * 100_000 + "]" * 100_000
    raw = f'{{"assistant_id": {tenant.assistant_id}, "customer_identifier": "c", "message": "hi", "{field}": {deep}}}'
    response = await tenant.client.post(
        "/api/ai/generate-reply", content=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "NESTING_TOO_DEEP")
    assert await snapshot(tenant.account_id) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/conversations", {"type": "widget", "variables": nested(200)}),
        ("/api/conversations/{id}/agent-messages", {"message": nested(200)}),
        ("/api/assistants", {"name": "Deep", "functions": [BOOK | {"parameters": nested(200)}]}),
    ],
)
async def test_deep_nesting_is_refused_on_every_endpoint(tenant: Tenant, path: str, body: dict[str, Any]) -> None:
    conversation_id = await widget_chat(tenant)
    response = await post(tenant, path.format(id=conversation_id), {"assistant_id": tenant.assistant_id} | body)
    assert_error(response, 422, "NESTING_TOO_DEEP")


async def test_a_function_schema_nested_too_deep_is_refused_when_the_assistant_is_saved(tenant: Tenant) -> None:
    schema = {"type": "object", "properties": {"a": nested(40, {"type": "string"})}}
    response = await tenant.client.post(
        "/api/assistants", json={"name": "Deep", "functions": [BOOK | {"parameters": schema}]}
    )
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert detail_fields(error) == ["functions.0.parameters"]
    assert "32 levels" in error["details"][0]["message"]


async def test_a_function_header_that_http_cannot_carry_is_refused_when_the_assistant_is_saved(tenant: Tenant) -> None:
    function = BOOK | {"headers": {"X-Key": "schlüssel"}}
    response = await tenant.client.post("/api/assistants", json={"name": "Umlaut", "functions": [function]})
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert detail_fields(error) == ["functions.0.headers.X-Key"]
    assert "printable ASCII" in error["details"][0]["message"]
    response = await tenant.client.patch(f"/api/assistants/{tenant.assistant_id}", json={"functions": [function]})
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == ["functions.0.headers.X-Key"]


async def test_an_assistant_saved_under_older_rules_is_listed_refuses_replies_cleanly_and_can_be_fixed(
    tenant: Tenant, db: Any, snapshot: Any, stub_model: StubModel
) -> None:
    """An older replyd let such a header through; its database still holds it after the upgrade."""
    saved = BOOK | {"headers": {"X-Key": "schlüssel"}, "parameters": {"type": "object"}}
    async with db() as session, session.begin():
        await session.execute(update(Assistant).where(Assistant.id == tenant.assistant_id).values(functions=[saved]))
    listed = await tenant.client.get("/api/assistants")
    assert listed.status_code == 200
    assert listed.json()["data"][0]["functions"][0]["headers"] == {"X-Key": "schlüssel"}

    before = await snapshot(tenant.account_id)
    refused = assert_error(await tenant.reply("Book me in"), 422, "VALIDATION_ERROR")
    assert detail_fields(refused) == ["assistant.functions.0.headers.X-Key"]
    assert "update the assistant" in refused["details"][0]["message"]
    after = await snapshot(tenant.account_id)
    assert (after.ledger_entries, after.balance_micros) == (before.ledger_entries, before.balance_micros)
    assert stub_model.requests == []  # refused before the model was asked

    fixed = BOOK | {"headers": {"X-Key": "schluessel"}}
    assert (await tenant.client.patch(f"/api/assistants/{tenant.assistant_id}", json={"functions": [fixed]})).is_success
    assert (await tenant.reply("Book me in")).status_code == 200
