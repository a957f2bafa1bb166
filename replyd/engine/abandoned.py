"""Replies whose process died: their customer's message stays ``pending`` and keeps holding the
most the reply could have cost of its account's balance. The conversation's next turn gives
that hold back (``receive.keep_message``), but a customer who never writes again would leave
it held for good. So every server process sweeps now and then: a message pending for longer
than ``abandoned_after_s`` is marked failed (the customer's retry still answers it) and its
hold given back.

The sweep takes the conversation's lock first, as a reply does: while it holds the lock no
reply of that conversation is in progress anywhere, so a message still pending then is one
nobody will answer. A slow reply is therefore never swept, however old its message."""

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.background import repeat
from replyd.clock import utcnow
from replyd.engine.receive import INTERRUPTED
from replyd.engine.reply import lock_key
from replyd.limits import Locks
from replyd.store import accounts, conversations
from replyd.store.conversations import PendingMessage

log = logging.getLogger(__name__)

BATCH = 100
"""Messages looked at per sweep; more wait for the next one."""


class AbandonedReplies:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], locks: Locks, abandoned_after_s: float) -> None:
        self._sessions = sessions
        self._locks = locks
        self._age = timedelta(seconds=abandoned_after_s)

    async def sweep(self) -> int:
        """Give back the holds of the abandoned replies found now; how many there were."""
        async with self._sessions() as session:
            pending = await conversations.pending_before(session, utcnow() - self._age, BATCH)
        released = [await self._release(message) for message in pending]
        if any(released):
            log.warning("gave back the balance held by %d replies whose process stopped", sum(released))
        return sum(released)

    async def sweep_forever(self) -> None:
        """Sweep every half ``abandoned_after_s`` (at most every 30 s) until cancelled."""
        await repeat(min(self._age.total_seconds() / 2, 30.0), self.sweep, "the sweep for abandoned replies")

    async def _release(self, message: PendingMessage) -> bool:
        key = lock_key(message.assistant_id, message.customer_identifier, message.conversation_id)
        async with self._locks.hold(key), self._sessions() as session, session.begin():
            held = await conversations.held_by_message(session, message.id)
            if held is None:  # erased while we waited for the lock (erasing gave its hold back)
                return False
            if not await conversations.set_reply_status(
                session, message.id, "failed", was=("pending",), error=INTERRUPTED
            ):
                return False  # answered while we waited for the lock
            await accounts.release(session, message.account_id, held)
            return True
