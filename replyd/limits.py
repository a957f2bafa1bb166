"""Rate limits per API token (a moving window: the `limits` library's in Redis, ``InProcessWindows``
otherwise) and the per-conversation lock that makes messages of one conversation run one at a
time, in arrival order.

Both live in this process unless Redis is configured: then the count is kept in Redis and
the lock is ``redis_lock.RedisConversationLocks``, behind the same methods. Redis not
answering is ``ServiceUnavailable`` (503) for both: ``map_redis_errors`` translates it."""

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from limits import RateLimitItem, WindowStats, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from replyd.errors import ServiceUnavailable

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
"""What redis-py raises when Redis cannot be reached or does not answer in time."""


@contextmanager
def map_redis_errors() -> Iterator[None]:
    """Redis not answering becomes ``ServiceUnavailable`` (503: nothing was done, retry soon)
    instead of an unexplained 500, as httpx turns httpcore's errors into its own. ``limits``
    wraps its storage's errors in ``StorageError``; the lock meets redis-py's directly."""
    try:
        yield
    except (StorageError, *REDIS_DOWN) as exc:
        raise ServiceUnavailable() from exc


def redis_client(url: str) -> Redis:
    """A Redis client that sends a command once more, on a fresh connection, when the pooled
    one it took was dropped (by a Redis restart, or a network cut since it was last used).
    ``Redis.from_url`` alone retries nothing, so after Redis came back each stale connection
    in the pool would fail one request with 503, however much later it was taken."""
    return Redis.from_url(url, retry=_retry_once())


def _retry_once() -> Retry:
    return Retry(NoBackoff(), retries=1)


@lru_cache(maxsize=256)
def parse_rate(rate: str) -> RateLimitItem:
    """``"5/minute"`` -> a rate item; raises ValueError for anything but one positive rate."""
    advice = f"{rate!r} is not a rate limit; write one rate like 5/minute or 100/hour"
    try:
        items = parse_many(rate)
    except ValueError:
        raise ValueError(advice) from None
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError(advice)
    return items[0]


@dataclass(frozen=True)
class RateDecision:
    is_allowed: bool
    limit: int
    remaining: int
    reset_at: int
    """Unix time at which the oldest counted request leaves the window."""
    retry_after_s: int

    @property
    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers that tell a client where its count stands."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


class Windows(Protocol):
    """A moving-window count of calls per key: ``limits``' limiter, or ``InProcessWindows``."""

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool: ...

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats: ...


class InProcessWindows:
    """The moving window of ``limits``, counted in this process: the times of each key's calls
    within the window, oldest first. (``limits``' own memory storage hands a scan for expired
    calls to a worker thread on every call, which cost 5% of a reply's CPU.)"""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        calls = self._in_window(item, identifiers)
        if len(calls) >= item.amount:
            return False
        calls.append(self._clock())
        return True

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """When the oldest call in the window leaves it, and how many calls are left until then."""
        calls = self._in_window(item, identifiers)
        start = calls[0] if calls else self._clock()
        return WindowStats(start + item.get_expiry(), item.amount - len(calls))

    def _in_window(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> deque[float]:
        calls = self._calls.setdefault(item.key_for(*identifiers), deque())
        since = self._clock() - item.get_expiry()
        while calls and calls[0] <= since:
            calls.popleft()
        return calls


class RateLimiter:
    """Counts in this process, or in Redis (``redis_url``) so that every process shares the count."""

    def __init__(self, redis_url: str | None = None, key_prefix: str = "replyd") -> None:
        self._redis = (
            RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=f"{key_prefix}:rate",
                wrap_exceptions=True,
                retry=_retry_once(),  # type: ignore[arg-type]  # limits passes it on to redis-py, whatever its hint
            )
            if redis_url
            else None
        )
        self._limiter: Windows = MovingWindowRateLimiter(self._redis) if self._redis else InProcessWindows()

    async def is_reachable(self) -> bool:
        return await self._redis.check() if self._redis else True

    async def hit(self, key: str, rate: str) -> RateDecision:
        """Count a call, and say whether it is within the limit."""
        item = parse_rate(rate)
        with map_redis_errors():
            is_allowed = await self._limiter.hit(item, key)
            stats = await self._limiter.get_window_stats(item, key)
        return _decision(is_allowed, item, stats)

    async def peek(self, key: str, rate: str) -> RateDecision:
        """Where the count stands, without counting a call (for answers the limit does not cover)."""
        item = parse_rate(rate)
        with map_redis_errors():
            stats = await self._limiter.get_window_stats(item, key)
        return _decision(stats.remaining > 0, item, stats)


def _decision(is_allowed: bool, item: RateLimitItem, stats: WindowStats) -> RateDecision:
    retry_after_s = max(1, math.ceil(stats.reset_time - time.time()))
    return RateDecision(is_allowed, item.amount, max(stats.remaining, 0), math.ceil(stats.reset_time), retry_after_s)


class Locks(Protocol):
    """What the reply engine needs: hold a conversation's lock, waiters served in arrival order."""

    def hold(self, key: str) -> AbstractAsyncContextManager[None]: ...


class ConversationLocks:
    """One FIFO lock per conversation key in this process, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
