"""Each assistant's channels: which platform, its credentials sealed (``channels/sealing.py``),
and the secret replyd made for the platform's calls to the channel's inbound URL."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.clock import utcnow
from replyd.store.tables import Base, BigId


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[int] = mapped_column(BigId, ForeignKey("assistants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``whatsapp``, ``twilio`` or ``telegram``."""
    credentials: Mapped[str] = mapped_column(Text)
    """Sealed: encrypted with the server's channel key."""
    inbound_secret: Mapped[str | None] = mapped_column(String(100))
    """What the platform sends with its calls (WhatsApp's verify token, Telegram's secret
    token); Twilio signs with the account's auth token instead."""
    created_at: Mapped[datetime]


async def create_channel(
    session: AsyncSession, account_id: int, assistant_id: int, kind: str, credentials: str, inbound_secret: str | None
) -> Channel:
    channel = Channel(
        account_id=account_id,
        assistant_id=assistant_id,
        kind=kind,
        credentials=credentials,
        inbound_secret=inbound_secret,
        created_at=utcnow(),
    )
    session.add(channel)
    await session.flush()
    return channel


async def list_channels(session: AsyncSession, account_id: int | None) -> list[Channel]:
    """``account_id`` None: every account's (the operator's command line)."""
    query = select(Channel).order_by(Channel.id)
    if account_id is not None:
        query = query.where(Channel.account_id == account_id)
    return list((await session.scalars(query)).all())


async def get_channel(session: AsyncSession, account_id: int | None, channel_id: int) -> Channel | None:
    query = select(Channel).where(Channel.id == channel_id)
    if account_id is not None:
        query = query.where(Channel.account_id == account_id)
    channel: Channel | None = await session.scalar(query)
    return channel


async def delete_channel(session: AsyncSession, channel_id: int) -> None:
    await session.execute(delete(Channel).where(Channel.id == channel_id))
