"""Idempotency-Key on generate-reply: a retry gets the first answer, never a second charge."""

import asyncio
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.services.upkeep import KEYS_BATCH
from replyd.store.tables import IdempotencyRecord
from tests.api.test_errors import assert_error
from tests.conftest import Tenant, upkeep_on
from tests.servers import Scripted, StubModel

ROUTE = "/api/ai/generate-reply"


def body(tenant: Tenant, message: str = "book me in") -> dict[str, Any]:
    return {"assistant_id": tenant.assistant_id, "customer_identifier": "c-1", "message": message}


async def test_retry_with_the_same_key_returns_the_first_answer(
    tenant: Tenant, stub_model: StubModel, snapshot: Any
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await tenant.client.post(ROUTE, json=body(tenant), headers=headers)
    after_first = await snapshot(tenant.account_id)
    again = await tenant.client.post(ROUTE, json=body(tenant), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(stub_model.requests) == 1
    assert await snapshot(tenant.account_id) == after_first


async def test_same_key_with_the_same_fields_in_another_order_is_the_same_request(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    a = f'{{"assistant_id": {tenant.assistant_id}, "customer_identifier": "c", "message": "m"}}'
    b = f'{{"message": "m", "customer_identifier": "c", "assistant_id": {tenant.assistant_id}}}'
    first = await tenant.client.post(ROUTE, content=a, headers=headers)
    second = await tenant.client.post(ROUTE, content=b, headers=headers)
    assert second.json() == first.json()


async def test_reused_idempotency_key_with_other_body_is_refused(tenant: Tenant, snapshot: Any) -> None:
    headers = {"Idempotency-Key": "k-1"}
    await tenant.client.post(ROUTE, json=body(tenant, "one"), headers=headers)
    before = await snapshot(tenant.account_id)
    response = await tenant.client.post(ROUTE, json=body(tenant, "two"), headers=headers)
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await snapshot(tenant.account_id) == before


async def test_keys_belong_to_one_account(make_tenant: Any, stub_model: StubModel) -> None:
    first: Tenant = await make_tenant()
    second: Tenant = await make_tenant()
    headers = {"Idempotency-Key": "shared"}
    await first.client.post(ROUTE, json=body(first), headers=headers)
    response = await second.client.post(ROUTE, json=body(second), headers=headers)
    assert response.status_code == 200
    assert len(stub_model.requests) == 2


async def test_a_retry_while_the_first_runs_waits_for_its_answer(tenant: Tenant, stub_model: StubModel) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="the one answer", gate=gate))
    headers = {"Idempotency-Key": "slow"}
    first = asyncio.create_task(tenant.client.post(ROUTE, json=body(tenant), headers=headers))
    await asyncio.to_thread(stub_model.wait_for_request)
    retry = asyncio.create_task(tenant.client.post(ROUTE, json=body(tenant), headers=headers))
    await asyncio.sleep(0.1)
    gate.set()
    assert (await retry).json() == (await first).json()
    assert (await first).json()["reply"] == "the one answer"
    assert len(stub_model.requests) == 1


async def test_a_retry_that_cannot_wait_is_told_the_request_is_in_progress(
    start_server: Any, make_tenant: Any, stub_model: StubModel
) -> None:
    gate = threading.Event()
    with start_server(idempotency_wait_s=0) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        stub_model.enqueue(Scripted(text="answer", gate=gate))
        headers = {"Idempotency-Key": "busy"}
        first = asyncio.create_task(tenant.client.post(ROUTE, json=body(tenant), headers=headers))
        await asyncio.to_thread(stub_model.wait_for_request)
        assert_error(await tenant.client.post(ROUTE, json=body(tenant), headers=headers), 409, "REQUEST_IN_PROGRESS")
        gate.set()
        assert (await first).status_code == 200


async def test_a_failed_request_does_not_keep_its_key(tenant: Tenant, stub_model: StubModel, snapshot: Any) -> None:
    stub_model.enqueue(Scripted(status=500), "second try works")
    headers = {"Idempotency-Key": "flaky"}
    assert (await tenant.client.post(ROUTE, json=body(tenant), headers=headers)).status_code == 502
    retry = await tenant.client.post(ROUTE, json=body(tenant), headers=headers)
    assert retry.json()["reply"] == "second try works"
    assert (await snapshot(tenant.account_id)).messages == 2


async def test_idempotency_key_longer_than_255_characters_is_invalid(tenant: Tenant) -> None:
    response = await tenant.client.post(ROUTE, json=body(tenant), headers={"Idempotency-Key": "k" * 256})
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_an_expired_key_is_deleted_and_the_same_key_then_makes_a_new_reply(
    tenant: Tenant, stub_model: StubModel, snapshot: Any, db: async_sessionmaker[AsyncSession]
) -> None:
    """Every expired key goes, however many (batch after batch); a fresh one stays."""
    expired = {"Idempotency-Key": "order-of-yesterday"}
    first = await tenant.client.post(ROUTE, json=body(tenant), headers=expired)
    await tenant.client.post(ROUTE, json=body(tenant, "fresh"), headers={"Idempotency-Key": "order-of-today"})
    day_ago = utcnow() - timedelta(hours=24, seconds=1)
    async with db() as session, session.begin():
        mine = IdempotencyRecord.account_id == tenant.account_id
        await session.execute(
            update(IdempotencyRecord)
            .where(mine, IdempotencyRecord.key == expired["Idempotency-Key"])
            .values(created_at=day_ago)
        )
        many = [
            {"account_id": tenant.account_id, "key": f"old-{n}", "request_sha256": "-", "created_at": day_ago}
            for n in range(2 * KEYS_BATCH)
        ]
        await session.execute(insert(IdempotencyRecord), many)
    upkeep = upkeep_on(db)
    assert await upkeep.forget_expired_keys() >= 2 * KEYS_BATCH + 1
    async with db() as session:
        assert (await session.scalars(select(IdempotencyRecord.key).where(mine))).all() == ["order-of-today"]
    before = await snapshot(tenant.account_id)
    again = await tenant.client.post(ROUTE, json=body(tenant), headers=expired)
    assert again.status_code == 200 and again.json()["reply"] == first.json()["reply"]
    assert len(stub_model.requests) == 3
    assert (await snapshot(tenant.account_id)).ledger_entries == before.ledger_entries + 1
