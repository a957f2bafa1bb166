"""Each assistant's channels: which platform, its credentials sealed (``channels/sealing.py``),
and the secret replyd made for the platform's calls to the channel's inbound URL."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Select, String, Text, UniqueConstraint, case, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.clock import utcnow
from replyd.store.session import Executor, insert_or_skip
from replyd.store.tables import Base, BigId, Message, number_of


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
    __table_args__ = (
        UniqueConstraint("channel_id", "platform_message_id", name="uq_channel_inbound_message"),
        Index("ix_channel_inbound_customer", "channel_id", "customer_identifier"),
    )

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


STATUSES = {"pending": 0, "accepted": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5}
"""What became of a message sent on a channel, in the order it goes: ``pending`` (in the outbox,
perhaps being retried), ``accepted`` (the platform took it), ``sent`` (to the customer's phone
or app), ``delivered``, ``read``; or ``failed``, which is final. A status the platform reports
after a later one (platforms do not keep order) is ignored."""


class ChannelMessageStatus(Base):
    """What became of an AI's or agent's message sent on a channel, from the moment it is
    written for the channel."""

    __tablename__ = "channel_message_status"
    __table_args__ = (UniqueConstraint("channel_id", "platform_message_id", name="uq_channel_message_status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    platform_message_id: Mapped[str | None] = mapped_column(String(100))
    """The platform's id of the message, once it accepted it (its statuses come under it)."""
    message_id: Mapped[int] = mapped_column(BigId, index=True, unique=True)
    """The conversation's message that is sent."""
    status: Mapped[str] = mapped_column(String(16))
    """One of ``STATUSES``."""
    error: Mapped[str | None] = mapped_column(Text)
    """In plain words: why it failed, or why the last attempt did while it is retried."""
    updated_at: Mapped[datetime]


async def expect_sending(session: Executor, channel_id: int, message_id: int) -> None:
    """The message is in the outbox for the channel: ``pending``."""
    values = {"channel_id": channel_id, "message_id": message_id, "status": "pending", "updated_at": utcnow()}
    await session.execute(insert(ChannelMessageStatus).values(values))


async def record_sent(session: AsyncSession, message_id: int, platform_message_id: str | None, status: str) -> None:
    """The platform accepted the message (under its id, if it reports statuses). A replayed
    delivery may follow a failure; a status callback that came before this answer stays."""
    await session.execute(
        update(ChannelMessageStatus)
        .where(ChannelMessageStatus.message_id == message_id, ChannelMessageStatus.status.in_(("pending", "failed")))
        .values(platform_message_id=platform_message_id, status=status, error=None, updated_at=utcnow())
    )


async def record_refusals(session: AsyncSession, refusals: list[tuple[int, bool, str]]) -> None:
    """For each (message id, whether it failed for good, why) an attempt that did not send:
    ``failed``, or still ``pending`` with the reason, while it is retried."""
    for message_id, final, error in refusals:
        await session.execute(
            update(ChannelMessageStatus)
            .where(ChannelMessageStatus.message_id == message_id, ChannelMessageStatus.status == "pending")
            .values(status="failed" if final else "pending", error=error, updated_at=utcnow())
        )


async def record_status(
    session: AsyncSession, channel_id: int, platform_message_id: str, status: str, error: str | None
) -> bool:
    """Move the message on to ``status`` unless it is there or further already; whether it
    moved. A message replyd did not send is left alone."""
    rank = case(STATUSES, value=ChannelMessageStatus.status, else_=len(STATUSES))
    moved = await session.execute(
        update(ChannelMessageStatus)
        .where(
            ChannelMessageStatus.channel_id == channel_id,
            ChannelMessageStatus.platform_message_id == platform_message_id,
            rank < STATUSES[status],
        )
        .values(status=status, error=error, updated_at=utcnow())
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


async def statuses_of(session: AsyncSession, message_ids: Sequence[int]) -> list[ChannelMessageStatus]:
    """The status of each of these messages that was sent on a channel: a page's, so the read
    stays one page's worth however long the conversation."""
    if not message_ids:
        return []
    rows = await session.scalars(select(ChannelMessageStatus).where(ChannelMessageStatus.message_id.in_(message_ids)))
    return list(rows.all())


def channels_of_assistant(assistant_id: int) -> Select[int]:
    return select(Channel.id).where(Channel.assistant_id == assistant_id)


def channels_of_account(account_id: int) -> Select[int]:
    return select(Channel.id).where(Channel.account_id == account_id)


async def erase_sent(session: AsyncSession, conversation_id: str) -> None:
    """The statuses of an erased conversation's messages sent on a channel."""
    sent = select(Message.id).where(Message.conversation_number == number_of(conversation_id))
    await session.execute(delete(ChannelMessageStatus).where(ChannelMessageStatus.message_id.in_(sent)))


async def erase_inbound(session: AsyncSession, of_channels: Select[int], customer_identifier: str) -> None:
    """What ``of_channels`` kept of an erased customer's messages as the platforms delivered
    them (their text)."""
    await session.execute(
        delete(ChannelInbound).where(
            ChannelInbound.channel_id.in_(of_channels), ChannelInbound.customer_identifier == customer_identifier
        )
    )
