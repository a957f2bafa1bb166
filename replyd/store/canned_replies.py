"""An account's canned replies: answers its operators use often, written once, with
``{{variable}}`` placeholders filled in from the conversation they are used in."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.store.tables import Base, BigId


class CannedReply(Base):
    __tablename__ = "canned_replies"
    __table_args__ = (UniqueConstraint("account_id", "title", name="uq_canned_replies_account_id_title"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(80))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


async def canned_replies(session: AsyncSession, account_id: int) -> list[CannedReply]:
    """By title."""
    rows = await session.scalars(
        select(CannedReply).where(CannedReply.account_id == account_id).order_by(CannedReply.title)
    )
    return list(rows.all())


async def find_by_title(session: AsyncSession, account_id: int, title: str) -> CannedReply | None:
    found: CannedReply | None = await session.scalar(
        select(CannedReply).where(CannedReply.account_id == account_id, CannedReply.title == title)
    )
    return found


async def add_canned_reply(
    session: AsyncSession, account_id: int, title: str, content: str, now: datetime
) -> CannedReply:
    reply = CannedReply(account_id=account_id, title=title, content=content, created_at=now)
    session.add(reply)
    await session.flush()
    return reply


async def delete_canned_reply(session: AsyncSession, account_id: int, reply_id: int) -> bool:
    """Whether it was there (in this account)."""
    deleted = await session.execute(
        delete(CannedReply).where(CannedReply.id == reply_id, CannedReply.account_id == account_id)
    )
    return bool(deleted.rowcount)  # type: ignore[attr-defined]
