"""Operators' private notes on a conversation: kept apart from its messages, so nothing that
reads messages (the model's prompt, the API's history, channels, the widget, events) can ever
pass one to the customer or the model."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.store.tables import Base, BigId

NOTES_SHOWN = 100
"""A conversation's newest notes the console shows."""


class Note(Base):
    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(100))
    """Who wrote it, as events name an operator (``console token 7``)."""
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


async def add_note(session: AsyncSession, conversation_id: str, author: str, content: str, now: datetime) -> Note:
    note = Note(conversation_id=conversation_id, author=author, content=content, created_at=now)
    session.add(note)
    await session.flush()
    return note


async def newest_notes(session: AsyncSession, conversation_id: str) -> list[Note]:
    """Newest first, at most ``NOTES_SHOWN``."""
    rows = await session.scalars(
        select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id.desc()).limit(NOTES_SHOWN)
    )
    return list(rows.all())


async def erase_notes(session: AsyncSession, conversation_id: str) -> None:
    await session.execute(delete(Note).where(Note.conversation_id == conversation_id))
