import asyncio

import pytest
from limits import WindowStats

from replyd.limits import ConversationLocks, InProcessWindows, RateLimiter, parse_rate


@pytest.mark.parametrize("rate", ["5/minute;10/hour", "0/minute", "lots", "", "5/fortnight"])
def test_only_one_positive_rate_is_accepted(rate: str) -> None:
    with pytest.raises(ValueError, match="one rate"):
        parse_rate(rate)


async def test_the_limiter_counts_down_and_refuses_past_the_limit() -> None:
    limiter = RateLimiter()
    decisions = [await limiter.hit("token-1", "3/minute") for _ in range(4)]
    assert [d.is_allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert 1 <= decisions[-1].retry_after_s <= 60
    assert (await limiter.hit("token-2", "3/minute")).is_allowed


async def test_conversation_locks_serve_waiters_in_arrival_order_and_are_dropped_after() -> None:
    locks, order = ConversationLocks(), []

    async def worker(n: int) -> None:
        async with locks.hold("conversation"):
            order.append(n)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(n) for n in range(20)))
    assert order == list(range(20))
    assert len(locks) == 0


async def test_calls_leave_the_in_process_window_once_it_has_passed_them() -> None:
    now = [1000.0]
    windows, rate = InProcessWindows(clock=lambda: now[0]), parse_rate("2/minute")
    assert [await windows.hit(rate, "token") for _ in range(3)] == [True, True, False]
    now[0] += 30
    assert await windows.get_window_stats(rate, "token") == WindowStats(1060.0, 0)
    now[0] += 30.5  # the first two calls have left the window
    assert await windows.get_window_stats(rate, "token") == WindowStats(now[0] + 60, 2)
    assert await windows.hit(rate, "token")
