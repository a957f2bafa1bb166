"""The per-conversation lock across server processes: a ticket lock in Redis.

Each message takes the next ticket of its conversation (INCR) and waits until that ticket is
being served, so messages run one at a time in the order they reached the lock, whichever
process holds them. A holder keeps a lease alive while it works; a process that dies stops
renewing, and once its lease (or, for a ticket still waiting, its heartbeat) runs out the
next ticket is served. Waiting is polling with a short, growing pause.

Redis not answering while a message waits for its turn is ``ServiceUnavailable`` (503: the
message was not handled). Once the turn is taken, renewing the lease and passing the turn on
are best effort: if Redis is gone, the lease runs out and the queue moves on by itself, and
what the holder did (a reply stored and charged) stands and is answered."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from replyd.errors import ReplydError
from replyd.limits import REDIS_DOWN, map_redis_errors

log = logging.getLogger(__name__)

KEY_TTL_MS = 24 * 3600 * 1000
"""Counters of a conversation idle for a day are forgotten (and start again at 1)."""

# Take a ticket and mark it alive in one step, so no other process sees it unclaimed.
TAKE_TICKET = """
local ticket = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2] .. ticket, '1', 'PX', ARGV[1])
return ticket
"""

# Extend the lease only while it is still ours: a holder that stalled past its lease must not
# take back the turn of the one now served.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Move on from ticket ARGV[1] if it is still the one being served. The ticket counter (KEYS[3])
# gets the same lifetime, or it could expire first and restart at 1 below "serving".
ADVANCE = """
local serving = tonumber(redis.call('GET', KEYS[1]) or '1')
if serving == tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], serving + 1, 'PX', ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
  return 1
end
return 0
"""


class RedisConversationLocks:
    def __init__(self, redis: Redis, lease_ms: int = 15_000, prefix: str = "replyd:lock:") -> None:
        self._redis = redis
        self._lease_ms = lease_ms
        self._prefix = prefix
        self._take = redis.register_script(TAKE_TICKET)
        self._advance = redis.register_script(ADVANCE)
        self._extend = redis.register_script(RENEW)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        keys = _Keys(self._prefix + key)
        with map_redis_errors():
            ticket = int(await self._take(keys=[keys.next, keys.alive], args=[self._lease_ms, KEY_TTL_MS]))
            try:
                await self._wait_for_turn(keys, ticket)
            except BaseException:
                await asyncio.shield(_best_effort(self._leave(keys, ticket), "leave the queue"))
                raise
        done = asyncio.Event()
        renewing = asyncio.create_task(self._renew(keys, ticket, done))
        try:
            yield
        finally:
            done.set()
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            passing_on = self._advance(keys=[keys.serving, keys.holder, keys.next], args=[ticket, KEY_TTL_MS])
            await asyncio.shield(_best_effort(passing_on, "pass the turn on"))

    async def _wait_for_turn(self, keys: "_Keys", ticket: int) -> None:
        pause = 0.002
        while True:
            serving = int(await self._redis.get(keys.serving) or 1)
            if serving == ticket:
                await self._redis.set(keys.holder, ticket, px=self._lease_ms)
                await self._redis.delete(keys.alive + str(ticket))
                return
            if serving > ticket:  # our ticket was skipped as dead: this process stalled past its heartbeat
                raise ReplydError("This message lost its place in the conversation's queue; please retry.")
            if not await self._is_claimed(keys, serving):
                await self._advance(keys=[keys.serving, keys.holder, keys.next], args=[serving, KEY_TTL_MS])
                continue
            await self._redis.set(keys.alive + str(ticket), "1", px=self._lease_ms)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.025)

    async def _is_claimed(self, keys: "_Keys", ticket: int) -> bool:
        """Someone holds ``ticket``, or still waits with it (its heartbeat has not run out)."""
        holder, waiting = await self._redis.mget(keys.holder, keys.alive + str(ticket))
        return (holder is not None and int(holder) == ticket) or waiting is not None

    async def _renew(self, keys: "_Keys", ticket: int, done: asyncio.Event) -> None:
        """Keep the lease until ``done``. Cancelling alone is not enough: on Python 3.11 a
        cancellation that lands just as a Redis command completes is lost (``asyncio.wait_for``
        in redis-py swallows it), and this loop would renew the lease forever."""
        while not done.is_set():
            await asyncio.sleep(self._lease_ms / 3000)
            if done.is_set():
                return
            try:
                if not await self._extend(keys=[keys.holder], args=[ticket, self._lease_ms]):
                    return  # the lease ran out and the queue moved on
            except REDIS_DOWN:
                log.warning("could not renew a conversation's lease: Redis did not answer; retrying")

    async def _leave(self, keys: "_Keys", ticket: int) -> None:
        """Give up a ticket before its turn (cancelled while waiting): drop its heartbeat so
        the queue skips it at once, or pass the turn on if it had just come."""
        await self._redis.delete(keys.alive + str(ticket))
        await self._advance(keys=[keys.serving, keys.holder, keys.next], args=[ticket, KEY_TTL_MS])


async def _best_effort(step: Awaitable[object], what: str) -> None:
    """Run a step whose failure the lease repairs: log it rather than let it replace the
    holder's own outcome (a stored reply, or the error it is already raising)."""
    try:
        await step
    except REDIS_DOWN:
        log.warning("could not %s of a conversation: Redis did not answer; its lease will run out", what)


class _Keys:
    def __init__(self, base: str) -> None:
        self.next = base + ":next"
        self.serving = base + ":serving"
        self.holder = base + ":holder"
        self.alive = base + ":alive:"
