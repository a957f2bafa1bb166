"""Labels operators put on conversations (``refund``, ``vip``): a few words each, to find and
sort their work by."""

from collections.abc import Sequence

from sqlalchemy import ForeignKey, Index, Select, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.store.tables import Base, Conversation


class Label(Base):
    __tablename__ = "conversation_labels"
    __table_args__ = (Index("ix_conversation_labels_label", "label"),)

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(40), primary_key=True)


async def add_label(session: AsyncSession, conversation_id: str, label: str) -> None:
    """Idempotent: a label the conversation has already is left as it is."""
    if await session.get(Label, (conversation_id, label)) is None:
        session.add(Label(conversation_id=conversation_id, label=label))
        await session.flush()


async def remove_label(session: AsyncSession, conversation_id: str, label: str) -> None:
    await session.execute(delete(Label).where(Label.conversation_id == conversation_id, Label.label == label))


async def labels_of(session: AsyncSession, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each conversation's labels, in alphabetical order (none: not in the answer)."""
    rows = await session.execute(
        select(Label.conversation_id, Label.label)
        .where(Label.conversation_id.in_(conversation_ids))
        .order_by(Label.label)
    )
    found: dict[str, list[str]] = {}
    for conversation_id, label in rows:
        found.setdefault(conversation_id, []).append(label)
    return found


def labelled(label: str) -> Select[str]:
    """The ids of the conversations that have ``label``, as a subquery for the list."""
    return select(Label.conversation_id).where(Label.label == label)


async def labels_in_use(session: AsyncSession, account_id: int) -> list[str]:
    """The account's labels on any conversation, alphabetically: what the list filters by.
    Read from the labels, each checked for its conversation's account, so the read grows with
    the labels put, never with the account's conversations (a join from the conversations
    walked all 200,000 of them)."""
    of_account = (
        select(Conversation.id)
        .where(Conversation.id == Label.conversation_id, Conversation.account_id == account_id)
        .exists()
    )
    rows = await session.scalars(select(Label.label).where(of_account).distinct().order_by(Label.label))
    return list(rows.all())


async def erase_labels(session: AsyncSession, conversation_id: str) -> None:
    await session.execute(delete(Label).where(Label.conversation_id == conversation_id))
