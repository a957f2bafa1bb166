"""Two real replyd processes on one PostgreSQL database and one Redis: crashes (kill -9 of a
process mid-reply), model failures, shutdowns and dropped database connections leave nothing
half written, and a retry with the message's Idempotency-Key answers it once."""

import asyncio
import contextlib
import os
import signal
import threading
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.reply import lock_key
from replyd.redis_lock import _Keys
from tests.conftest import Tenant
from tests.processes import ClientFor, Deployment, ServerProcess, assert_consistent, send, stored_messages
from tests.servers import Scripted, StubModel

pytestmark = pytest.mark.skipif(
    not os.environ.get("REPLYD_TEST_POSTGRES_URL"),
    reason="needs PostgreSQL and Redis: runs in the PostgreSQL + Redis pass of make test",
)


async def wait_for_model_call(stub_model: StubModel) -> None:
    """Until the next request reaches the stub model (waited for off this event loop)."""
    await asyncio.to_thread(stub_model.wait_for_request)


async def wait_for_tickets(
    redis_url: str, server_env: dict[str, str], tenant: Tenant, customer: str, count: int
) -> None:
    """Until ``count`` messages have taken their place in the conversation's queue."""
    prefix = f"{server_env['REPLYD_REDIS_KEY_PREFIX']}:lock:"
    tickets = _Keys(prefix + lock_key(tenant.assistant_id, customer, None)).next
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(2000):
            if int(await redis.get(tickets) or 0) >= count:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"only {int(await redis.get(tickets) or 0)} of {count} messages reached the queue")
    finally:
        await redis.aclose()


async def terminate_server_connections(postgres_url: str) -> int:
    """Drop every other connection to the test database, as a database restart would."""
    connection = await asyncpg.connect(postgres_url)
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return len(rows)


@pytest.mark.parametrize(
    ("fault", "status", "error_code"),
    [("failing", 502, "LLM_ERROR"), ("garbage", 502, "LLM_ERROR"), ("slow", 504, "LLM_TIMEOUT")],
)
async def test_a_failed_model_call_keeps_the_message_and_a_retry_with_its_key_answers_it_once(
    fault: str,
    status: int,
    error_code: str,
    servers: Deployment,
    request: pytest.FixtureRequest,
    make_tenant: Callable[..., Any],
    client_for: ClientFor,
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    tenant: Tenant = await make_tenant(base_url=servers.a.url)
    gate = threading.Event()
    faults = {"failing": Scripted(status=500), "garbage": Scripted(body="junk"), "slow": Scripted(gate=gate)}
    stub_model.enqueue(faults[fault])
    # A held answer outlasts the deadline only on the process that gives the model one second.
    first_url = request.getfixturevalue("hasty_server").url if fault == "slow" else servers.a.url
    key = f"key-{fault}"
    before = await snapshot(tenant.account_id)
    try:
        failed = await send(client_for(first_url, tenant), tenant, "are you there?", "+4915550003", key=key)
    finally:
        gate.set()
    assert failed.status_code == status, failed.text
    assert failed.json()["error_code"] == error_code
    kept = await snapshot(tenant.account_id)
    assert (kept.conversations, kept.messages) == (1, 1)  # the customer's message, unanswered
    assert (kept.balance_micros, kept.ledger_entries) == (before.balance_micros, before.ledger_entries)

    retried = await send(client_for(servers.b.url, tenant), tenant, "are you there?", "+4915550003", key=key)
    replayed = await send(tenant.client, tenant, "are you there?", "+4915550003", key=key)

    assert retried.status_code == replayed.status_code == 200
    assert replayed.json() == retried.json()
    assert retried.json()["reply"] == "echo: are you there?"
    assert len(stub_model.requests) == 2  # the failed call and the retry; the replay calls no model
    after = await snapshot(tenant.account_id)
    assert (after.conversations, after.messages, after.ledger_entries) == (1, 2, before.ledger_entries + 1)
    await assert_consistent(db, snapshot, tenant.account_id)


async def test_a_worker_killed_mid_reply_keeps_the_customers_message_and_the_other_process_goes_on(
    servers: Deployment,
    make_tenant: Callable[..., Any],
    client_for: ClientFor,
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
    redis_url: str,
    server_env: dict[str, str],
) -> None:
    tenant: Tenant = await make_tenant(base_url=servers.a.url, context_budget_tokens=100_000)
    to_b = client_for(servers.b.url, tenant)
    customer = "+4915550004"
    gate = threading.Event()
    stub_model.enqueue(Scripted(gate=gate))
    before = await snapshot(tenant.account_id)
    try:
        on_a = [asyncio.create_task(send(tenant.client, tenant, "a1", customer))]
        await wait_for_model_call(stub_model)  # a1 holds the conversation's lock in process A
        on_a.append(asyncio.create_task(send(tenant.client, tenant, "a2", customer)))
        await wait_for_tickets(redis_url, server_env, tenant, customer, 2)  # a2 waits in process A
        on_b = []
        for n, message in enumerate(["b1", "b2"]):
            on_b.append(asyncio.create_task(send(to_b, tenant, message, customer)))
            await wait_for_tickets(redis_url, server_env, tenant, customer, 3 + n)  # queued behind A's messages

        await asyncio.to_thread(servers.a.kill)

        lost = await asyncio.gather(*on_a, return_exceptions=True)
        answered = await asyncio.gather(*on_b)
    finally:
        gate.set()

    assert all(isinstance(result, httpx.TransportError) for result in lost), lost
    assert [r.status_code for r in answered] == [200, 200], [r.text for r in answered]
    assert [r.json()["reply"] for r in answered] == ["echo: b1", "echo: b2"]
    conversation_id = answered[0].json()["conversation_id"]
    stored = await stored_messages(db, conversation_id)
    assert [(m.content, m.reply_status) for m in stored] == [
        ("a1", "failed"),  # stored before the model was called; the next turn found it orphaned
        ("b1", "answered"),
        ("echo: b1", None),
        ("b2", "answered"),
        ("echo: b2", None),
    ]
    after = await snapshot(tenant.account_id)
    assert after.ledger_entries == before.ledger_entries + 2
    await assert_consistent(db, snapshot, tenant.account_id)

    await asyncio.to_thread(servers.a.start)
    restarted = await send(tenant.client, tenant, "a3", customer)

    assert restarted.status_code == 200, restarted.text
    assert [m["content"] for m in stub_model.requests[-1]["messages"] if m["role"] != "system"] == [
        "a1",
        "b1",
        "echo: b1",
        "b2",
        "echo: b2",
        "a3",
    ]
    assert len(await stored_messages(db, conversation_id)) == 7
    await assert_consistent(db, snapshot, tenant.account_id)


async def test_sigterm_lets_the_reply_in_flight_finish_then_the_process_exits(
    spawn: Callable[..., ServerProcess],
    make_tenant: Callable[..., Any],
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    server = await asyncio.to_thread(spawn, f"graceful-{uuid.uuid4().hex[:6]}")
    assert server.process is not None
    tenant: Tenant = await make_tenant(base_url=server.url)
    gate = threading.Event()
    stub_model.enqueue(Scripted(gate=gate))
    try:
        in_flight = asyncio.create_task(send(tenant.client, tenant, "still there?", "+4915550005"))
        await wait_for_model_call(stub_model)
        server.process.send_signal(signal.SIGTERM)
        await _wait_until_refusing_connections(server.url)
    finally:
        gate.set()

    answer = await in_flight
    exit_status = await asyncio.to_thread(server.process.wait, 30)

    assert answer.status_code == 200, answer.text
    assert answer.json()["reply"] == "echo: still there?"
    assert exit_status == 0  # a clean stop
    assert "Application shutdown complete" in server.log_tail()
    assert (await snapshot(tenant.account_id)).messages == 2
    await assert_consistent(db, snapshot, tenant.account_id)


async def _wait_until_refusing_connections(url: str) -> None:
    """Until a new connection is refused (the process has closed its listening socket), or
    closed unanswered (it was accepted just before)."""
    for _ in range(400):
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            try:
                await client.get(url + "/healthz")
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                return
        await asyncio.sleep(0.025)
    raise AssertionError("the server still accepts connections after SIGTERM")


async def test_a_database_connection_dropped_while_the_model_thinks_leaves_nothing_half_written(
    servers: Deployment,
    make_tenant: Callable[..., Any],
    client_for: ClientFor,
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
    postgres_url: str,
) -> None:
    tenant: Tenant = await make_tenant(base_url=servers.a.url)
    customer = "+4915550006"
    gate = threading.Event()
    stub_model.enqueue(Scripted(gate=gate))
    before = await snapshot(tenant.account_id)
    try:
        in_flight = asyncio.create_task(send(tenant.client, tenant, "first", customer, key="dropped"))
        await wait_for_model_call(stub_model)
        assert await terminate_server_connections(postgres_url) > 0
    finally:
        gate.set()
    answer = await in_flight

    after = await snapshot(tenant.account_id)
    if answer.status_code == 200:
        assert answer.json()["reply"] == "echo: first"
        assert after.messages == before.messages + 2
    else:  # a clean error in replyd's envelope; the message kept, unanswered and uncharged
        assert answer.status_code >= 500
        assert answer.json()["success"] is False
        assert after.messages == before.messages + 1
        assert (after.balance_micros, after.ledger_entries) == (before.balance_micros, before.ledger_entries)
    await assert_consistent(db, snapshot, tenant.account_id)

    again = await send(client_for(servers.b.url, tenant), tenant, "first", customer, key="dropped")
    following = await send(tenant.client, tenant, "second", customer)

    assert again.status_code == following.status_code == 200
    assert again.json()["reply"] == "echo: first"
    assert following.json()["reply"] == "echo: second"
    assert (await snapshot(tenant.account_id)).messages == before.messages + 4
    await assert_consistent(db, snapshot, tenant.account_id)


async def test_a_retry_of_a_killed_workers_keyed_message_is_answered_once_not_refused_as_in_progress(
    servers: Deployment,
    spawn: Callable[..., ServerProcess],
    make_tenant: Callable[..., Any],
    client_for: ClientFor,
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    """The retry waits as a client's retry would (the default 10 s for a running key, not the
    suite's 60 s): the dead process's claim and turn must have lapsed by then, so the retry is
    answered instead of 409 REQUEST_IN_PROGRESS."""
    patient = await asyncio.to_thread(spawn, f"default-wait-{uuid.uuid4().hex[:6]}", idempotency_wait_s=10)
    tenant: Tenant = await make_tenant(base_url=servers.a.url)
    customer, key = "+4915550007", "order-7"
    gate = threading.Event()
    stub_model.enqueue(Scripted(gate=gate))
    try:
        in_flight = asyncio.create_task(send(tenant.client, tenant, "cancel order 7", customer, key=key))
        await wait_for_model_call(stub_model)  # the message is stored, pending, in process A
        await asyncio.to_thread(servers.a.kill)
        with contextlib.suppress(httpx.TransportError):
            await in_flight
    finally:
        gate.set()

    retried = await send(client_for(patient.url, tenant), tenant, "cancel order 7", customer, key=key)

    assert retried.status_code == 200, retried.text
    assert retried.json()["reply"] == "echo: cancel order 7"
    stored = await stored_messages(db, retried.json()["conversation_id"])
    assert [(m.content, m.reply_status) for m in stored] == [
        ("cancel order 7", "answered"),
        ("echo: cancel order 7", None),
    ]
    await assert_consistent(db, snapshot, tenant.account_id)
