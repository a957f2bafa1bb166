"""The reply path caches its token and assistant per process; a change made through another
server process (here another app on the same database, with its own cache) or the store
itself is seen by the very next reply."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from replyd.functions.spec import FunctionSpec
from replyd.store import accounts, ledger
from tests.api.test_errors import assert_error
from tests.conftest import Tenant
from tests.servers import StubModel


def system_prompt(request: dict[str, Any]) -> str:
    return str(next(m["content"] for m in request["messages"] if m["role"] == "system"))


async def test_an_assistant_changed_through_another_process_is_used_by_the_next_reply(
    tenant: Tenant, stub_model: StubModel, start_server: Callable[..., AbstractContextManager[str]]
) -> None:
    assert (await tenant.reply("first")).status_code == 200  # this server now holds the assistant
    with start_server() as other:
        async with httpx.AsyncClient(base_url=other, headers=tenant.client.headers) as elsewhere:
            changed = await elsewhere.patch(
                f"/api/assistants/{tenant.assistant_id}", json={"system_prompt": "You sell bikes."}
            )
            assert changed.status_code == 200
    assert (await tenant.reply("second")).status_code == 200
    assert system_prompt(stub_model.requests[-1]) == "You sell bikes."


async def test_an_assistant_deleted_through_another_process_is_gone_for_the_next_reply(
    tenant: Tenant, start_server: Callable[..., AbstractContextManager[str]], snapshot: Any
) -> None:
    assert (await tenant.reply("first", customer="c-1")).status_code == 200
    with start_server() as other:
        async with httpx.AsyncClient(base_url=other, headers=tenant.client.headers) as elsewhere:
            deleted = await elsewhere.delete(f"/api/assistants/{tenant.assistant_id}", params={"force": "true"})
            assert deleted.status_code in (200, 204)
    before = await snapshot(tenant.account_id)
    assert_error(await tenant.reply("second", customer="c-2"), 404, "ASSISTANT_NOT_FOUND")
    assert await snapshot(tenant.account_id) == before


async def test_a_token_revoked_after_it_was_cached_is_refused_and_stores_nothing(
    tenant: Tenant, db: Any, snapshot: Any
) -> None:
    assert (await tenant.reply("first")).status_code == 200  # cached now
    async with db() as session, session.begin():
        assert await accounts.revoke_token(session, tenant.token_id)
    before = await snapshot(tenant.account_id)
    assert_error(await tenant.reply("second"), 401, "UNAUTHENTICATED")
    assert_error(await tenant.reply("third"), 401, "UNAUTHENTICATED")
    assert await snapshot(tenant.account_id) == before


async def test_revoking_one_token_leaves_the_accounts_other_tokens_working(
    tenant: Tenant, db: Any, server: str
) -> None:
    async with db() as session, session.begin():
        other = await accounts.create_token(session, tenant.account_id)
    async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {other.secret}"}) as client:
        body = {"assistant_id": tenant.assistant_id, "customer_identifier": "c", "message": "hi"}
        assert (await client.post("/api/ai/generate-reply", json=body)).status_code == 200
        async with db() as session, session.begin():
            assert await accounts.revoke_token(session, tenant.token_id)
        assert (await client.post("/api/ai/generate-reply", json=body)).status_code == 200
    assert_error(await tenant.reply(), 401, "UNAUTHENTICATED")


async def test_an_assistant_first_read_by_a_refused_reply_serves_the_next(
    make_tenant: Any, db: Any, stub_model: StubModel
) -> None:
    """The reply that first reads (and caches) the assistant is refused and rolled back; the
    cached assistant must not go with that transaction."""
    tenant: Tenant = await make_tenant(balance="0.01", reply_fee="0.05")
    assert_error(await tenant.reply("first"), 402, "INSUFFICIENT_BALANCE")
    async with db() as session, session.begin():
        await ledger.record(session, tenant.account_id, "top_up", 1_000_000)
    assert (await tenant.reply("second")).status_code == 200


async def test_a_token_revoked_after_it_was_cached_gets_no_replay_of_its_idempotent_answer(
    tenant: Tenant, db: Any
) -> None:
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": "c-key", "message": "hi"}
    headers = {"Idempotency-Key": "replayed"}
    assert (await tenant.client.post("/api/ai/generate-reply", json=body, headers=headers)).status_code == 200
    async with db() as session, session.begin():
        assert await accounts.revoke_token(session, tenant.token_id)
    replay = await tenant.client.post("/api/ai/generate-reply", json=body, headers=headers)
    assert_error(replay, 401, "UNAUTHENTICATED")


async def test_an_assistants_functions_are_validated_once_not_on_every_reply(
    make_tenant: Any, stub_model: StubModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = {"name": "book", "parameters": {"type": "object"}, "url": "https://crm.example.com/book"}
    tenant: Tenant = await make_tenant(functions=[book])
    assert (await tenant.reply("first")).status_code == 200  # read and validated here
    validated: list[Any] = []
    original = FunctionSpec.model_validate

    def counted(spec: Any) -> FunctionSpec:
        validated.append(spec)
        return original(spec)

    monkeypatch.setattr(FunctionSpec, "model_validate", counted)
    assert (await tenant.reply("second")).status_code == 200
    assert (await tenant.reply("third")).status_code == 200
    assert validated == []
    assert [tool["function"]["name"] for tool in stub_model.requests[-1]["tools"]] == ["book"]
