"""Notices that a conversation changed, from the code that changed it to the live streams open
on that conversation in every server process: the chat widget's stream waits for one instead of
reading the database twice a second, so an agent's message reaches the visitor at once.

A notice names a conversation and what happened (``CHANGED``: something was stored, go and read
it; ``AGENT_TYPING``: a human agent is writing). It carries no message: a stream that hears one
reads the database, so a notice that never arrives (Redis away for a while, a silently dropped
subscription) delays what a stream shows until its next poll (``REPLYD_LIVE_POLL_S``), and loses
nothing.

Within one process a notice goes straight to that process's streams. With Redis configured it is
also published on one channel that every process subscribes to (``hear_forever``), each skipping
its own. Publishing never holds up the caller: it runs beside it, and a failure is only logged."""

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from uuid import uuid4

from redis.asyncio import Redis

from replyd.limits import REDIS_DOWN

log = logging.getLogger(__name__)

CHANGED = "changed"
AGENT_TYPING = "agent_typing"

PUBLISH_TIMEOUT_S = 2.0
RESUBSCRIBE_AFTER_S = 1.0
"""How long to wait before subscribing again once Redis dropped the subscription."""


class Listener:
    """One stream's notices of one conversation, kept until the stream takes them."""

    def __init__(self) -> None:
        self._kinds: set[str] = set()
        self._arrived = asyncio.Event()

    def hear(self, kind: str) -> None:
        self._kinds.add(kind)
        self._arrived.set()

    async def next(self, timeout_s: float) -> set[str]:
        """What was heard since the last call, waiting up to ``timeout_s`` for something; an
        empty set if nothing came (time for the stream's poll)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout_s)
        kinds, self._kinds = self._kinds, set()
        self._arrived.clear()
        return kinds


class Notices:
    def __init__(self, redis: Redis | None, channel: str) -> None:
        self._redis = redis
        self._channel = channel
        self._origin = uuid4().hex
        """This process's mark on what it publishes, so that it does not hear itself twice."""
        self._listeners: dict[str, set[Listener]] = {}
        self._publishing: set[asyncio.Task[None]] = set()

    @contextlib.contextmanager
    def listening(self, conversation_id: str) -> Iterator[Listener]:
        listener = Listener()
        self._listeners.setdefault(conversation_id, set()).add(listener)
        try:
            yield listener
        finally:
            listeners = self._listeners[conversation_id]
            listeners.discard(listener)
            if not listeners:
                del self._listeners[conversation_id]

    def tell(self, conversation_id: str, kind: str = CHANGED) -> None:
        """Tell every stream on ``conversation_id``, here and (with Redis) in other processes.
        Call it once what it tells of is committed: a stream reads the database when it hears."""
        self._deliver(conversation_id, kind)
        if self._redis is not None:
            publishing = asyncio.create_task(self._publish(self._redis, conversation_id, kind))
            self._publishing.add(publishing)
            publishing.add_done_callback(self._publishing.discard)

    async def drain(self) -> None:
        """Let the notices being published go out (before Redis is closed: a command-line
        command ends right after it told of what it stored)."""
        if self._publishing:
            await asyncio.wait(self._publishing, timeout=PUBLISH_TIMEOUT_S)

    async def hear_forever(self) -> None:
        """Background work of a serving process with Redis: the other processes' notices,
        subscribed again whenever Redis dropped the subscription."""
        if self._redis is None:
            return
        is_lost = False
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as subscription:
                    await subscription.subscribe(self._channel)
                    if is_lost:
                        log.info("live notices: subscribed again")
                        is_lost = False
                    async for message in subscription.listen():
                        self._hear(message["data"])
            except REDIS_DOWN:
                if not is_lost:
                    log.warning("live notices: Redis dropped the subscription; streams poll until it is back")
                is_lost = True
            await asyncio.sleep(RESUBSCRIBE_AFTER_S)

    def _hear(self, published: bytes) -> None:
        origin, conversation_id, kind = json.loads(published)
        if origin != self._origin:
            self._deliver(conversation_id, kind)

    async def _publish(self, redis: Redis, conversation_id: str, kind: str) -> None:
        notice = json.dumps([self._origin, conversation_id, kind])
        try:
            await asyncio.wait_for(redis.publish(self._channel, notice), PUBLISH_TIMEOUT_S)
        except (*REDIS_DOWN, TimeoutError):
            log.info("live notices: Redis did not take a notice; streams elsewhere see it at their next poll")

    def _deliver(self, conversation_id: str, kind: str) -> None:
        for listener in self._listeners.get(conversation_id, ()):
            listener.hear(kind)
