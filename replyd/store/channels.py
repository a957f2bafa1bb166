"""Each assistant's channels: which platform, its credentials sealed (``channels/sealing.py``),
and the secret replyd made for the platform's calls to the channel's inbound URL."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.clock import utcnow
from replyd.store.session import insert_or_skip
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


class ChannelInbound(Base):
    """A customer's message as the platform delivered it, kept before it is acknowledged."""

    __tablename__ = "channel_inbound"
    __table_args__ = (UniqueConstraint("channel_id", "platform_message_id", name="uq_channel_inbound_message"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    platform_message_id: Mapped[str] = mapped_column(String(100))
    """The platform's id of it: a retry of the delivery carries the same one."""
    customer_identifier: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    """Why no answer came (the balance, the model), when none did."""


async def keep_inbound(
    session: AsyncSession, channel_id: int, platform_message_id: str, customer_identifier: str, text: str
) -> int | None:
    """Keep the message; its id, or None if the platform delivered it before (kept already)."""
    kept = await session.scalar(
        insert_or_skip(session, ChannelInbound)
        .values(
            channel_id=channel_id,
            platform_message_id=platform_message_id,
            customer_identifier=customer_identifier,
            text=text,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["channel_id", "platform_message_id"])
        .returning(ChannelInbound.id)
    )
    return kept


async def mark_answered(session: AsyncSession, inbound_id: int, error: str | None) -> None:
    await session.execute(
        update(ChannelInbound).where(ChannelInbound.id == inbound_id).values(answered_at=utcnow(), error=error)
    )


async def unanswered(session: AsyncSession, kept_before: datetime, limit: int) -> list[tuple[ChannelInbound, Channel]]:
    """Messages kept before ``kept_before`` and still unanswered (their process died), oldest first."""
    rows = await session.execute(
        select(ChannelInbound, Channel)
        .join(Channel, Channel.id == ChannelInbound.channel_id)
        .where(ChannelInbound.answered_at.is_(None), ChannelInbound.received_at < kept_before)
        .order_by(ChannelInbound.id)
        .limit(limit)
    )
    return [(inbound, channel) for inbound, channel in rows]


class ChannelMessageStatus(Base):
    """What became of a message sent on a channel whose platform reports it (WhatsApp: sent,
    delivered, read, failed), under the platform's id of it."""

    __tablename__ = "channel_message_status"
    __table_args__ = (UniqueConstraint("channel_id", "platform_message_id", name="uq_channel_message_status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    platform_message_id: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[int] = mapped_column(BigId)
    """The conversation's message that was sent."""
    status: Mapped[str] = mapped_column(String(16))
    """``accepted`` (the platform took it), then ``sent``, ``delivered``, ``read``, or ``failed``."""
    error: Mapped[str | None] = mapped_column(Text)
    """Why it failed, in the platform's words."""
    updated_at: Mapped[datetime]


async def record_sent(session: AsyncSession, channel_id: int, platform_message_id: str, message_id: int) -> None:
    """The platform accepted the message under this id (sent again after a lost answer: kept once)."""
    await session.execute(
        insert_or_skip(session, ChannelMessageStatus)
        .values(
            channel_id=channel_id,
            platform_message_id=platform_message_id,
            message_id=message_id,
            status="accepted",
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["channel_id", "platform_message_id"])
    )


async def record_status(
    session: AsyncSession,
    channel_id: int,
    platform_message_id: str,
    status: str,
    error: str | None,
    ranks: dict[str, int],
) -> bool:
    """Move the message on to ``status`` unless it is there or further already (``ranks`` orders
    the statuses); whether it moved. A message replyd did not send is left alone."""
    rank = case(ranks, value=ChannelMessageStatus.status, else_=len(ranks))
    moved = await session.execute(
        update(ChannelMessageStatus)
        .where(
            ChannelMessageStatus.channel_id == channel_id,
            ChannelMessageStatus.platform_message_id == platform_message_id,
            rank < ranks[status],
        )
        .values(status=status, error=error, updated_at=utcnow())
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]
