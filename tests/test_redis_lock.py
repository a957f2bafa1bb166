"""The conversation lock across processes: each RedisConversationLocks with its own Redis
connection stands for one server process."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from replyd.errors import ServiceUnavailable
from replyd.limits import RateLimiter
from replyd.redis_lock import RedisConversationLocks
from tests.servers import TcpProxy


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[list[RedisConversationLocks]]:
    clients = [Redis.from_url(redis_url) for _ in range(2)]
    prefix = f"replyd-test:{uuid.uuid4()}:"
    yield [RedisConversationLocks(client, lease_ms=400, prefix=prefix) for client in clients]
    for client in clients:
        await client.aclose()


async def test_holders_from_two_processes_never_overlap_and_keep_arrival_order(
    processes: list[RedisConversationLocks], redis_url: str
) -> None:
    order: list[int] = []
    inside = 0

    async def message(n: int) -> None:
        nonlocal inside
        async with processes[n % 2].hold("conversation"):
            inside += 1
            assert inside == 1
            order.append(n)
            await asyncio.sleep(0)
            inside -= 1

    counter = Redis.from_url(redis_url)
    tasks = []
    for n in range(30):  # message n arrives (takes its ticket) before message n + 1 is sent
        tasks.append(asyncio.create_task(message(n)))
        while int(await counter.get(processes[0]._prefix + "conversation:next") or 0) < n + 1:
            await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    await counter.aclose()
    assert order == list(range(30))


async def test_different_conversations_do_not_wait_for_each_other(processes: list[RedisConversationLocks]) -> None:
    async with processes[0].hold("a"):
        async with asyncio.timeout(5):
            async with processes[1].hold("b"):
                pass


async def test_a_crashed_holder_delays_the_next_message_only_until_its_lease_ends(
    processes: list[RedisConversationLocks], redis_url: str
) -> None:
    crashed = processes[0].hold("c")
    await crashed.__aenter__()  # the holder "dies": it never leaves, and its lease renewal stops
    for task in asyncio.all_tasks():
        if task.get_coro().__qualname__.startswith("RedisConversationLocks._renew"):  # type: ignore[union-attr]
            task.cancel()
    async with asyncio.timeout(10):
        async with processes[1].hold("c"):
            pass


async def test_a_waiter_that_died_is_skipped(processes: list[RedisConversationLocks], redis_url: str) -> None:
    locks = processes[0]
    base = locks._prefix + "d"  # a ticket taken by a process that died before waiting for it
    await locks._take(keys=[base + ":next", base + ":alive:"], args=[400, 60_000])
    async with asyncio.timeout(10):
        async with processes[1].hold("d"):
            pass


async def test_the_rate_limit_is_counted_once_across_processes(redis_url: str) -> None:
    first, second = RateLimiter(redis_url), RateLimiter(redis_url)
    key = f"token-{uuid.uuid4()}"
    allowed = [await (first if n % 2 else second).hit(key, "4/minute") for n in range(6)]
    assert [d.is_allowed for d in allowed] == [True, True, True, True, False, False]
    assert await first.is_reachable()


async def test_every_hold_returns_even_when_it_ends_during_a_lease_renewal(redis_url: str) -> None:
    """Short leases make a release often land mid-renewal; redis-py on Python 3.11 can swallow
    that cancellation, which once left the renewal (and the conversation) running forever."""
    client = Redis.from_url(redis_url)
    locks = RedisConversationLocks(client, lease_ms=30, prefix=f"replyd-test:{uuid.uuid4()}:")
    try:
        async with asyncio.timeout(60):
            for n in range(300):
                async with locks.hold(f"c{n % 3}"):
                    await asyncio.sleep(0.012)
    finally:
        await client.aclose()


async def test_a_holder_that_stalled_past_its_lease_cannot_take_it_back(
    processes: list[RedisConversationLocks],
) -> None:
    slow, fast = processes
    base = slow._prefix + "e"
    stalled = slow.hold("e")
    await stalled.__aenter__()
    for task in asyncio.all_tasks():  # the holder stalls: its renewals stop for a while
        if task.get_coro().__qualname__.startswith("RedisConversationLocks._renew"):  # type: ignore[union-attr]
            task.cancel()
    async with asyncio.timeout(10), fast.hold("e"):  # the next message goes on after the lease
        assert await slow._extend(keys=[base + ":holder"], args=[1, 400]) == 0  # the old ticket may not renew
        holder = await slow._redis.get(base + ":holder")
        assert holder is not None and int(holder) == 2


async def test_a_message_waiting_when_redis_goes_away_is_refused_as_unavailable(
    processes: list[RedisConversationLocks], redis_proxy: TcpProxy
) -> None:
    behind_proxy = Redis.from_url(redis_proxy.url)
    waiter = RedisConversationLocks(behind_proxy, lease_ms=400, prefix=processes[0]._prefix)
    try:
        async with processes[0].hold("f"):
            waiting = asyncio.create_task(waiter.hold("f").__aenter__())
            while int(await processes[0]._redis.get(processes[0]._prefix + "f:next") or 0) < 2:
                await asyncio.sleep(0.001)  # until the waiter has its ticket
            redis_proxy.cut()
            with pytest.raises(ServiceUnavailable):
                await waiting
        async with asyncio.timeout(10), processes[1].hold("f"):  # its ticket is skipped once its heartbeat ends
            pass
    finally:
        await behind_proxy.aclose()
