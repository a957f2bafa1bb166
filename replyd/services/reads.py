"""Which conversations a console sign-in has read: a conversation is read once the sign-in was
shown it after its newest message (opened it, or had it open while the message arrived)."""

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store import activity, reads
from replyd.store.conversations import ConversationFilter

UNREAD_CAP = 100
"""Counts stop here: the console shows "99+"."""


class ReadService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def mark(self, conversation_id: str, token_id: int, message_id: int) -> None:
        """``token_id`` was shown the conversation up to ``message_id`` (the caller has read the
        conversation as its account's: this does not check)."""
        async with self._sessions() as session, session.begin():
            await reads.mark_read(session, conversation_id, token_id, message_id)

    async def marks(self, conversation_ids: Sequence[str], token_id: int) -> dict[str, int]:
        """The newest message ``token_id`` was shown of each listed conversation it has opened."""
        async with self._sessions() as session:
            return await reads.read_marks(session, conversation_ids, token_id)

    async def unread_counts(
        self, account_id: int, token_id: int, views: Mapping[str, ConversationFilter]
    ) -> dict[str, int]:
        """Each view's conversations with messages ``token_id`` has not read, up to ``UNREAD_CAP``."""
        async with self._sessions() as session:
            return {
                name: await activity.count_unread(session, account_id, where, token_id, UNREAD_CAP)
                for name, where in views.items()
            }
