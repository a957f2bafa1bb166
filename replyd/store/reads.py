"""What each console sign-in has read of a conversation: the newest message it was shown. A
conversation with a message after that mark is unread for that sign-in (an operator token, or
the admin token the account's owner signs in with)."""

from collections.abc import Sequence

from sqlalchemy import ForeignKey, case, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.store.session import insert_or_skip
from replyd.store.tables import Base, BigId


class ConversationRead(Base):
    __tablename__ = "conversation_reads"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    token_id: Mapped[int] = mapped_column(BigId, ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True)
    last_read_message_id: Mapped[int] = mapped_column(BigId)


async def mark_read(session: AsyncSession, conversation_id: str, token_id: int, message_id: int) -> None:
    """Read up to ``message_id``; a mark never moves back (a page of older messages, or two
    tabs answering out of order, leave the newer mark as it is)."""
    adding = insert_or_skip(session, ConversationRead).values(
        conversation_id=conversation_id, token_id=token_id, last_read_message_id=message_id
    )
    kept = ConversationRead.last_read_message_id
    newer = adding.excluded.last_read_message_id
    await session.execute(
        adding.on_conflict_do_update(
            index_elements=[ConversationRead.conversation_id, ConversationRead.token_id],
            set_={"last_read_message_id": case((newer > kept, newer), else_=kept)},
        )
    )


async def read_marks(session: AsyncSession, conversation_ids: Sequence[str], token_id: int) -> dict[str, int]:
    """The sign-in's mark on each conversation it has read (never read: not in the answer)."""
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(ConversationRead.conversation_id, ConversationRead.last_read_message_id).where(
            ConversationRead.conversation_id.in_(conversation_ids), ConversationRead.token_id == token_id
        )
    )
    return {conversation_id: message_id for conversation_id, message_id in rows.all()}


async def erase_reads(session: AsyncSession, conversation_id: str) -> None:
    await session.execute(delete(ConversationRead).where(ConversationRead.conversation_id == conversation_id))
