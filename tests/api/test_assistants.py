"""Assistants over the API: the same validation as the CLI's --config, scoped to the account."""

from typing import Any

import pytest

from tests.api.test_errors import assert_error
from tests.conftest import Tenant
from tests.servers import StubModel

BOOK = {"name": "book", "parameters": {"type": "object"}, "url": "https://crm.example.com/book"}


async def test_create_get_list_update_and_delete(tenant: Tenant, stub_model: StubModel) -> None:
    created = await tenant.client.post(
        "/api/assistants",
        json={"name": "Sales", "model": "openai:stub-model", "system_prompt": "Sell {{product}}.", "reply_fee": "0.05"},
    )
    assert created.status_code == 201
    assistant = created.json()["assistant"]
    assert (assistant["name"], assistant["reply_fee"], assistant["temperature"]) == ("Sales", "0.05", 0.7)
    assistant_id = assistant["id"]
    got = (await tenant.client.get(f"/api/assistants/{assistant_id}")).json()["assistant"]
    assert got == assistant
    listed = (await tenant.client.get("/api/assistants")).json()["data"]
    assert [a["id"] for a in listed] == [tenant.assistant_id, assistant_id]
    patched = await tenant.client.patch(
        f"/api/assistants/{assistant_id}", json={"temperature": 0.1, "functions": [BOOK]}
    )
    changed = patched.json()["assistant"]
    assert (changed["temperature"], changed["name"], changed["system_prompt"]) == (0.1, "Sales", "Sell {{product}}.")
    assert changed["functions"][0]["name"] == "book"
    await tenant.reply(assistant_id=assistant_id, variables={"product": "bikes"})
    assert stub_model.requests[-1]["messages"][0]["content"] == "Sell bikes."
    assert stub_model.requests[-1]["temperature"] == 0.1
    assert_error(await tenant.client.delete(f"/api/assistants/{assistant_id}"), 409, "ASSISTANT_IN_USE")
    deleted = await tenant.client.delete(f"/api/assistants/{assistant_id}", params={"force": "true"})
    assert deleted.json() == {"success": True, "assistant_id": assistant_id, "deleted": True}
    assert_error(await tenant.client.get(f"/api/assistants/{assistant_id}"), 404, "ASSISTANT_NOT_FOUND")
    assert_error(await tenant.reply(assistant_id=assistant_id), 404, "ASSISTANT_NOT_FOUND")


async def test_an_unused_assistant_deletes_without_force(tenant: Tenant) -> None:
    assistant_id = (await tenant.client.post("/api/assistants", json={"name": "Spare"})).json()["assistant"]["id"]
    assert (await tenant.client.delete(f"/api/assistants/{assistant_id}")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "a", "model": "nope"}, "model"),
        ({"name": "a", "temperature": 5}, "temperature"),
        ({"name": "a", "reply_fee": "0.0000001"}, "reply_fee"),
        ({"name": "a", "surprise": True}, "surprise"),
        ({"name": "a", "functions": [BOOK, BOOK]}, "functions"),
        ({"name": "a", "functions": [BOOK | {"url": "file:///etc/passwd"}]}, "functions.0.url"),
    ],
)
async def test_invalid_settings_are_refused_naming_the_field(tenant: Tenant, body: dict[str, Any], field: str) -> None:
    error = assert_error(await tenant.client.post("/api/assistants", json=body), 422, "VALIDATION_ERROR")
    assert field in [d["field"] for d in error["details"]]


async def test_an_invalid_update_changes_nothing(tenant: Tenant) -> None:
    before = (await tenant.client.get(f"/api/assistants/{tenant.assistant_id}")).json()
    response = await tenant.client.patch(f"/api/assistants/{tenant.assistant_id}", json={"temperature": 9, "name": "X"})
    assert_error(response, 422, "VALIDATION_ERROR")
    assert (await tenant.client.get(f"/api/assistants/{tenant.assistant_id}")).json() == before


async def test_another_accounts_assistant_is_not_found_everywhere(make_tenant: Any) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    path = f"/api/assistants/{theirs.assistant_id}"
    for response in [
        await mine.client.get(path),
        await mine.client.patch(path, json={"name": "stolen"}),
    ]:
        assert_error(response, 404, "ASSISTANT_NOT_FOUND")
    assert (await theirs.client.get(path)).json()["assistant"]["name"] == "Test assistant"
    assert theirs.assistant_id not in [a["id"] for a in (await mine.client.get("/api/assistants")).json()["data"]]


async def test_a_repeated_delete_succeeds_as_the_first_did(tenant: Tenant) -> None:
    assistant_id = (await tenant.client.post("/api/assistants", json={"name": "Spare"})).json()["assistant"]["id"]
    first = await tenant.client.delete(f"/api/assistants/{assistant_id}")
    again = await tenant.client.delete(f"/api/assistants/{assistant_id}", params={"force": "true"})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert_error(await tenant.client.get(f"/api/assistants/{assistant_id}"), 404, "ASSISTANT_NOT_FOUND")


@pytest.mark.parametrize("force", [False, True])
async def test_deleting_another_accounts_assistant_answers_as_deleting_one_never_there(
    make_tenant: Any, snapshot: Any, force: bool
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    await theirs.reply()  # in use: their own delete without force would be refused
    before = await snapshot(theirs.account_id)
    params = {"force": "true"} if force else {}
    other = await mine.client.delete(f"/api/assistants/{theirs.assistant_id}", params=params)
    missing = await mine.client.delete(f"/api/assistants/{10**12}", params=params)
    assert other.status_code == missing.status_code == 200
    assert other.json() == {"success": True, "assistant_id": theirs.assistant_id, "deleted": True}
    assert missing.json() == {"success": True, "assistant_id": 10**12, "deleted": True}
    assert await snapshot(theirs.account_id) == before
    assert (await theirs.client.get(f"/api/assistants/{theirs.assistant_id}")).status_code == 200
