"""Event delivery through faults, by real ``replyd serve`` processes on a database of each test's
own (no other server delivers its events) to a real receiver that verifies every delivery with
the standardwebhooks library: a process killed mid-delivery loses nothing, and the next sends
only the delivery it was sending again, with the same ``webhook-id``; two processes never send
one delivery at once and keep each conversation's order; an answer trickling in is cut off at
the timeout, before the lease ends; a receiver that refused connections for a while gets
everything once, in order; a receiver on a loopback address that the address guard does not
allow is never called."""

import asyncio
import dataclasses
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.events import Delivery, DeliveryAttempt
from replyd.store.migrate import upgrade_database
from tests.conftest import RUN_PREFIX, Tenant, empty_database, sessions_on
from tests.events.test_events import say, start_chat, subscribe
from tests.processes import ClientFor, ServerProcess, free_port
from tests.servers import EventReceiver, eventually, serve_in_thread

Launch = Callable[..., Awaitable[ServerProcess]]
TenantOf = Callable[[ServerProcess], Awaitable[Tenant]]
QUICK_RETRIES = ",".join(["0.2"] * 50)
"""Retries every 0.2 s for about ten seconds: long enough for a receiver to come back."""


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own: SQLite, or PostgreSQL in the PostgreSQL pass."""
    with empty_database(tmp_path, f"{RUN_PREFIX}-{uuid.uuid4().hex[:8]}".replace("-", "_")) as url:
        upgrade_database(url)
        yield url


@pytest.fixture
async def own_sessions(own_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sessions_on(own_database) as sessions:
        yield sessions


@pytest.fixture
def launch(serve_env: dict[str, str], own_database: str, tmp_path: Path, stopped_after: list[ServerProcess]) -> Launch:
    """``await launch(name, **settings)``: start a ``replyd serve`` on the test's database that may
    call the receivers on 127.0.0.1 (settings as REPLYD_* names without the prefix)."""

    async def start(name: str, **settings: Any) -> ServerProcess:
        env = serve_env | {"REPLYD_DATABASE_URL": own_database, "REPLYD_WEBHOOK_ALLOW": "127.0.0.1/32"}
        server = ServerProcess(name, env | {f"REPLYD_{k.upper()}": str(v) for k, v in settings.items()}, tmp_path)
        stopped_after.append(server)
        await asyncio.to_thread(server.start)
        return server

    return start


@pytest.fixture
def tenant_of(make_tenant: Callable[..., Any], own_sessions: async_sessionmaker[AsyncSession]) -> TenantOf:
    """``await tenant_of(server)``: a tenant in the test's database, its client talking to ``server``."""

    async def make(server: ServerProcess) -> Tenant:
        tenant: Tenant = await make_tenant(base_url=server.url, sessions=own_sessions)
        return tenant

    return make


async def produce(tenants: list[Tenant], chats: int, messages: int) -> dict[str, list[str]]:
    """``messages`` human agent's messages in each of ``chats`` new chats: one after another in a
    chat, the chats at once, taking turns over the tenants' clients (processes); what each chat
    was told, in order."""
    told: dict[str, list[str]] = {await start_chat(tenants[0]): [] for _ in range(chats)}

    async def tell(k: int, chat: str) -> None:
        for n in range(messages):
            told[chat].append(f"chat {k}, message {n}")
            await say(tenants[(n * chats + k) % len(tenants)], chat, told[chat][-1])

    await asyncio.gather(*(tell(k, chat) for k, chat in enumerate(told)))
    return told


def told_by_chat(payloads: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The messages each chat's events carried, in the order they were delivered."""
    told: dict[str, list[str]] = defaultdict(list)
    for payload in payloads:
        told[payload["data"]["conversation"]["id"]].append(payload["data"]["message"]["content"])
    return told


async def deliveries(client: httpx.AsyncClient, endpoint_id: int) -> list[dict[str, Any]]:
    listed = await client.get(f"/api/webhooks/{endpoint_id}/deliveries", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    data: list[dict[str, Any]] = listed.json()["data"]
    return data


def settled(client: httpx.AsyncClient, endpoint_id: int, count: int, status: str) -> Callable[[], Awaitable[bool]]:
    """A condition for eventually(): all ``count`` deliveries of the endpoint have ``status``,
    after which no process sends any of them again."""

    async def check() -> bool:
        listed = await deliveries(client, endpoint_id)
        return len(listed) == count and all(d["status"] == status for d in listed)

    return check


def one_chain_claimed(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], Awaitable[bool]]:
    """A condition for eventually(): only one conversation's deliveries are claimed (the one
    being sent, and those of its conversation claimed with it, waiting behind it)."""

    async def check() -> bool:
        async with sessions() as session:
            claimed = await session.scalar(
                select(func.count(func.distinct(Delivery.conversation_id))).where(Delivery.locked_until.is_not(None))
            )
        return claimed == 1

    return check


def arrivals(receiver: EventReceiver) -> Counter[str]:
    """How often each ``webhook-id`` arrived, answered or not."""
    return Counter(headers["webhook-id"] for headers, _ in receiver.received)


async def test_a_process_killed_mid_delivery_loses_nothing_and_the_next_sends_that_one_again_with_its_webhook_id(
    launch: Launch,
    tenant_of: TenantOf,
    own_sessions: async_sessionmaker[AsyncSession],
    client_for: ClientFor,
    receiver: tuple[EventReceiver, str],
) -> None:
    inbox, url = receiver
    short_lease = {"webhook_timeout_s": 3, "webhook_lease_s": 4}  # the next process waits for the lease to end
    first = await launch("first", **short_lease)
    tenant = await tenant_of(first)
    endpoint_id = await subscribe(tenant, inbox, url, ["message.created"])
    inbox.hold = 1  # the first delivery to arrive is never answered
    told = await produce([tenant], chats=3, messages=3)
    await eventually(lambda: len(inbox.held()) == 1)
    await eventually(one_chain_claimed(own_sessions))  # the other conversations' are answered and settled

    await asyncio.to_thread(first.kill)
    second = await launch("second", **short_lease)
    on_second = client_for(second.url, tenant)
    await eventually(settled(on_second, endpoint_id, 9, "delivered"), timeout_s=60)

    [held] = inbox.held()
    events = {d["event_id"] for d in await deliveries(on_second, endpoint_id)}
    assert held in events
    assert arrivals(inbox) == Counter(events) + Counter([held])  # only the one in flight came twice
    assert Counter(p["id"] for p in inbox.payloads()) == Counter(events)  # each answered 2xx once
    assert told_by_chat(inbox.payloads()) == told
    assert inbox.unverified == 0


@pytest.mark.skipif(
    not os.environ.get("REPLYD_TEST_POSTGRES_URL"),
    reason="needs PostgreSQL: two processes delivering at once; runs in the PostgreSQL + Redis pass of make test",
)
async def test_two_processes_never_send_one_delivery_at_once_and_keep_each_conversations_order(
    launch: Launch, tenant_of: TenantOf, client_for: ClientFor, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    inbox.delay_s = 0.5  # deliveries stay open a while, and end at different times: both processes find work
    first, second = await asyncio.gather(launch("first"), launch("second"))
    tenant = await tenant_of(first)
    endpoint_id = await subscribe(tenant, inbox, url, ["message.created"])
    on_second = dataclasses.replace(tenant, client=client_for(second.url, tenant))

    told = await produce([tenant, on_second], chats=25, messages=2)
    await eventually(settled(tenant.client, endpoint_id, 50, "delivered"), timeout_s=60)

    assert inbox.overlaps == []
    events = {d["event_id"] for d in await deliveries(tenant.client, endpoint_id)}
    assert arrivals(inbox) == Counter(events)  # no process crashed: each sent once
    assert told_by_chat(inbox.payloads()) == told
    assert inbox.unverified == 0


async def test_an_answer_trickling_in_past_the_timeout_is_cut_off_before_the_lease_ends_and_retried(
    launch: Launch,
    tenant_of: TenantOf,
    own_sessions: async_sessionmaker[AsyncSession],
    receiver: tuple[EventReceiver, str],
) -> None:
    """Each byte comes in time for a timeout of each read, the whole body does not: read on, the
    delivery would still be open when its lease ends and another process sends it again."""
    inbox, url = receiver
    settings = {"webhook_timeout_s": 1, "webhook_lease_s": 2, "webhook_retry_schedule": QUICK_RETRIES}
    server = await launch("impatient", **settings)
    tenant = await tenant_of(server)
    endpoint_id = await subscribe(tenant, inbox, url, ["message.created"])
    inbox.trickle = 1
    await produce([tenant], chats=1, messages=1)

    await eventually(settled(tenant.client, endpoint_id, 1, "delivered"))
    async with own_sessions() as session:
        attempts = (await session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))).all()
    assert [(a.status_code, a.error) for a in attempts] == [(None, "no answer within 1 s"), (200, None)]
    assert [h["answered"] for h, _ in inbox.received] == ["trickled", "200"]


async def test_a_receiver_that_refused_connections_for_a_while_gets_everything_once_in_order(
    launch: Launch, tenant_of: TenantOf
) -> None:
    server = await launch("patient", webhook_retry_schedule=QUICK_RETRIES)
    tenant = await tenant_of(server)
    inbox, port = EventReceiver(), free_port()  # nothing listens on the port yet
    endpoint_id = await subscribe(tenant, inbox, f"http://127.0.0.1:{port}/events", ["message.created"])
    told = await produce([tenant], chats=2, messages=3)

    async def refused_twice() -> bool:
        listed = await deliveries(tenant.client, endpoint_id)
        return any(d["attempts"] >= 2 and d["last_error"] == "could not connect: ClientConnectorError" for d in listed)

    await eventually(refused_twice)
    with serve_in_thread(inbox.app(), port=port):
        await eventually(settled(tenant.client, endpoint_id, 6, "delivered"))

    assert told_by_chat(inbox.payloads()) == told
    assert list(arrivals(inbox).values()) == [1] * 6
    assert inbox.unverified == 0


async def test_a_receiver_on_an_address_the_guard_refuses_is_never_called_though_it_listens(
    launch: Launch, tenant_of: TenantOf, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    server = await launch("guarded", webhook_allow="", webhook_retry_schedule="0.2,0.2")
    tenant = await tenant_of(server)
    endpoints = [await subscribe(tenant, inbox, address) for address in (url, url.replace("127.0.0.1", "localhost"))]
    await produce([tenant], chats=1, messages=1)

    for endpoint_id in endpoints:  # conversation.created and message.created, each tried three times
        await eventually(settled(tenant.client, endpoint_id, 2, "failed"))
        listed = await deliveries(tenant.client, endpoint_id)
        assert [(d["attempts"], d["last_status_code"]) for d in listed] == [(3, None)] * 2
        assert all(d["last_error"].startswith("refused: ") for d in listed)
    assert inbox.received == [] and inbox.unverified == 0
