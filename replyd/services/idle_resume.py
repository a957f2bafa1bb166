"""The AI comes back by itself to a conversation whose humans have gone quiet: an assistant with
``resume_ai_after_s`` set gets its AI back in a conversation once no agent has written (and
nobody turned the AI off again) for that long, handoffs and takeovers alike. Every server
process sweeps for such conversations now and then; each is resumed under its lock, after
checking again that nobody wrote meanwhile, and ``conversation.ai_enabled`` tells of it."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.background import repeat
from replyd.clock import utcnow
from replyd.services.conversations import ConversationService
from replyd.store import conversations

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0
"""So the AI is back at most this late."""
BATCH = 100
"""Conversations resumed per sweep; more wait for the next one."""


class IdleResume:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], conversations: ConversationService) -> None:
        self._sessions = sessions
        self._conversations = conversations

    async def sweep(self) -> int:
        """Resume the conversations due now; how many."""
        async with self._sessions() as session:
            idle = await conversations.idle_without_humans(session, utcnow(), BATCH)
        resumed = [await self._conversations.resume_idle(c.id, c.quiet_since_before) for c in idle]
        if any(resumed):
            log.info("the AI is back in %d conversations whose humans went quiet", sum(resumed))
        return sum(resumed)

    async def sweep_forever(self) -> None:
        await repeat(SWEEP_EVERY_S, self.sweep, "resuming the AI in idle conversations")
