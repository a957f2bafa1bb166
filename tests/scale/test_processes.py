"""Two real replyd processes on one PostgreSQL database and one Redis: conversation order,
rate limits and Idempotency-Keys hold across them. (Crashes and failures: tests/faults.)"""

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Tenant
from tests.processes import FEE_MICROS, ClientFor, Deployment, assert_consistent, send, stored_messages
from tests.servers import StubModel

pytestmark = pytest.mark.skipif(
    not os.environ.get("REPLYD_TEST_POSTGRES_URL"),
    reason="needs PostgreSQL and Redis: runs in the PostgreSQL + Redis pass of make test",
)


async def test_fifty_simultaneous_messages_over_two_processes_are_stored_in_order_without_interleaving(
    servers: Deployment,
    make_tenant: Callable[..., Any],
    client_for: ClientFor,
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    tenant: Tenant = await make_tenant(base_url=servers.a.url, context_budget_tokens=100_000)
    clients = [tenant.client, client_for(servers.b.url, tenant)]
    messages = [f"message {n}" for n in range(50)]

    responses = await asyncio.gather(
        *(send(clients[n % 2], tenant, message, "+4915550001") for n, message in enumerate(messages))
    )

    assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses if r.status_code != 200]
    assert [r.json()["reply"] for r in responses] == [f"echo: {m}" for m in messages]
    conversation_ids = {r.json()["conversation_id"] for r in responses}
    assert len(conversation_ids) == 1
    stored = await stored_messages(db, conversation_ids.pop())
    assert len(stored) == 100
    assert sorted(m.content for m in stored[::2]) == sorted(messages)
    for user, reply in zip(stored[::2], stored[1::2], strict=True):
        assert (user.role, reply.role) == ("user", "assistant")
        assert reply.content == f"echo: {user.content}"
    assert len(stub_model.requests) == 50
    for k, request in enumerate(stub_model.requests):  # the model was called in the stored order
        model_input = [(m["role"], m["content"]) for m in request["messages"] if m["role"] != "system"]
        assert model_input == [(m.role, m.content) for m in stored[: 2 * k + 1]]
    after = await snapshot(tenant.account_id)
    assert (after.conversations, after.messages) == (1, 100)
    await assert_consistent(db, snapshot, tenant.account_id)


async def test_the_rate_limit_is_counted_once_across_both_processes(
    servers: Deployment, make_tenant: Callable[..., Any], client_for: ClientFor, snapshot: Any
) -> None:
    tenant: Tenant = await make_tenant(base_url=servers.a.url, rate_limit="10/minute")
    clients = [tenant.client, client_for(servers.b.url, tenant)]

    responses = await asyncio.gather(
        *(send(clients[n % 2], tenant, f"hello {n}", f"+49155510{n:02d}") for n in range(20))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 10
    assert {r.json()["error_code"] for r in responses if r.status_code == 429} == {"RATE_LIMITED"}
    assert (await snapshot(tenant.account_id)).messages == 20


async def test_a_hundred_concurrent_retries_of_one_idempotency_key_over_both_processes_store_one_exchange(
    servers: Deployment,
    make_tenant: Callable[..., Any],
    client_for: ClientFor,
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    tenant: Tenant = await make_tenant(base_url=servers.a.url)
    clients = [tenant.client, client_for(servers.b.url, tenant)]
    before = await snapshot(tenant.account_id)

    responses = await asyncio.gather(
        *(send(clients[n % 2], tenant, "book me in", "+4915550002", key="order-42") for n in range(100))
    )

    assert [r.status_code for r in responses] == [200] * 100, {r.text for r in responses if r.status_code != 200}
    assert all(r.json() == responses[0].json() for r in responses)
    assert responses[0].json()["reply"] == "echo: book me in"
    assert len(stub_model.requests) == 1
    after = await snapshot(tenant.account_id)
    assert after.conversations == before.conversations + 1
    assert after.messages == before.messages + 2
    assert after.ledger_entries == before.ledger_entries + 1
    assert after.balance_micros == before.balance_micros - FEE_MICROS
    await assert_consistent(db, snapshot, tenant.account_id)
