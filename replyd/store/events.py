"""The event outbox: each account's endpoints, the events written in the same transaction as
the change they report, one delivery per event and subscribed endpoint, and a log of every
attempt. Deliveries are claimed with a lease (a conditional update), so that any number of
server processes can deliver without two sending the same attempt at once."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    ScalarSelect,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.clock import utcnow
from replyd.store.accounts import settings_changed
from replyd.store.session import Executor
from replyd.store.tables import Base, BigId


class EventEndpoint(Base):
    __tablename__ = "event_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[Any]]
    """The types it receives; empty: every type."""
    secret: Mapped[str] = mapped_column(String(100))
    """Signs its deliveries (Standard Webhooks); shown once, when the endpoint is added."""
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None]
    """When its deliveries started failing, until one succeeds."""
    created_at: Mapped[datetime]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_fan_out", "fanned_out", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    """``evt_...``: the ``webhook-id`` of every delivery of it, retries and replays alike."""
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(36), index=True)
    """Deliveries of one conversation's events go out in order; erasing it erases them."""
    data: Mapped[dict[str, Any]]
    fanned_out: Mapped[bool] = mapped_column(Boolean)
    """Whether its deliveries were made (for the endpoints subscribed then)."""
    created_at: Mapped[datetime]


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_order", "endpoint_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(BigId, ForeignKey("event_endpoints.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    """``pending``, ``delivered`` or ``failed`` (its retries ran out, or the endpoint is gone)."""
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    """A process sending it holds it until then; after, another may (the sender died)."""
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigId, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(BigInteger)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class Due:
    """A delivery claimed for sending, with what sending needs."""

    delivery_id: int
    attempts: int
    url: str
    secret: str
    endpoint_id: int
    event_public_id: str
    event_type: str
    event_created_at: datetime
    data: dict[str, Any]


ENDPOINTS = cast(Table, EventEndpoint.__table__)
INSERT_EVENT = insert(cast(Table, Event.__table__))
"""Built once: replies write events."""


async def record_event(
    db: Executor,
    account_id: int,
    type: str,
    data: dict[str, Any],
    *,
    public_id: str,
    conversation_id: str | None,
) -> None:
    """Write an event into the outbox, in the caller's transaction with the change it reports."""
    await db.execute(
        INSERT_EVENT,
        {
            "public_id": public_id,
            "account_id": account_id,
            "type": type,
            "conversation_id": conversation_id,
            "data": data,
            "fanned_out": False,
            "created_at": utcnow(),
        },
    )


ENABLED_TYPES = select(ENDPOINTS.c.event_types).where(
    ENDPOINTS.c.account_id == bindparam("account_id"), ENDPOINTS.c.enabled.is_(True)
)


async def enabled_endpoint_types(db: Executor, account_id: int) -> list[list[str]]:
    """The types each enabled endpoint of the account takes (empty: every type)."""
    return list((await db.execute(ENABLED_TYPES, {"account_id": account_id})).scalars().all())


async def fan_out(session: AsyncSession, limit: int) -> int:
    """Make the deliveries of events not yet fanned out, one per enabled endpoint of the
    account that takes the event's type; how many events. Each event is fanned out once, by
    whichever process marks it first."""
    events = (
        await session.scalars(select(Event).where(Event.fanned_out.is_(False)).order_by(Event.id).limit(limit))
    ).all()
    now = utcnow()
    for event in events:
        marked = await session.execute(
            update(Event).where(Event.id == event.id, Event.fanned_out.is_(False)).values(fanned_out=True)
        )
        if not marked.rowcount:  # type: ignore[attr-defined]
            continue
        endpoints = await session.scalars(
            select(EventEndpoint).where(EventEndpoint.account_id == event.account_id, EventEndpoint.enabled.is_(True))
        )
        for endpoint in endpoints:
            if endpoint.event_types and event.type not in endpoint.event_types:
                continue
            session.add(
                Delivery(
                    event_id=event.id,
                    endpoint_id=endpoint.id,
                    conversation_id=event.conversation_id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    await session.flush()
    return len(events)


async def due_deliveries(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Pending deliveries whose time has come and that no process holds, of enabled endpoints,
    each the earliest pending one of its conversation at its endpoint (order per conversation).
    The earliest are found by grouping the pending ones, so that a round reads those alone,
    never a long conversation's delivered ones."""
    earliest = (
        select(func.min(Delivery.id))
        .where(Delivery.status == "pending")
        .group_by(Delivery.endpoint_id, Delivery.conversation_id)
    )
    rows = await session.scalars(
        select(Delivery.id)
        .join(EventEndpoint, EventEndpoint.id == Delivery.endpoint_id)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            (Delivery.locked_until.is_(None)) | (Delivery.locked_until < now),
            EventEndpoint.enabled.is_(True),
            Delivery.conversation_id.is_(None) | Delivery.id.in_(earliest),  # no conversation: no order
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(rows.all())


async def claim(session: AsyncSession, delivery_id: int, now: datetime, lease: timedelta) -> Due | None:
    """Hold the delivery for ``lease`` if no other process holds it; what sending needs."""
    claimed = await session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == "pending",
            (Delivery.locked_until.is_(None)) | (Delivery.locked_until < now),
        )
        .values(locked_until=now + lease)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return None
    row = (
        await session.execute(
            select(
                Delivery.id,
                Delivery.attempts,
                EventEndpoint.url,
                EventEndpoint.secret,
                EventEndpoint.id,
                Event.public_id,
                Event.type,
                Event.created_at,
                Event.data,
            )
            .join(Event, Event.id == Delivery.event_id)
            .join(EventEndpoint, EventEndpoint.id == Delivery.endpoint_id)
            .where(Delivery.id == delivery_id)
        )
    ).one()
    return Due(*row)


async def log_attempt(
    session: AsyncSession,
    delivery_id: int,
    *,
    status_code: int | None,
    latency_ms: int,
    response_excerpt: str | None,
    error: str | None,
) -> None:
    session.add(
        DeliveryAttempt(
            delivery_id=delivery_id,
            attempted_at=utcnow(),
            status_code=status_code,
            latency_ms=latency_ms,
            response_excerpt=response_excerpt,
            error=error,
        )
    )
    await session.flush()


async def settle(
    session: AsyncSession, delivery_id: int, *, status: str, attempts: int, next_attempt_at: datetime
) -> None:
    """After an attempt: delivered, failed for good, or pending again until ``next_attempt_at``."""
    values: dict[str, Any] = {"status": status, "attempts": attempts, "next_attempt_at": next_attempt_at}
    values["locked_until"] = None
    if status == "delivered":
        values["delivered_at"] = utcnow()
    await session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


async def endpoint_succeeded(session: AsyncSession, endpoint_id: int) -> None:
    await session.execute(
        update(EventEndpoint)
        .where(EventEndpoint.id == endpoint_id, EventEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
    )


async def endpoint_failed(session: AsyncSession, endpoint_id: int, now: datetime) -> datetime:
    """Note the failure; since when the endpoint has been failing."""
    await session.execute(
        update(EventEndpoint)
        .where(EventEndpoint.id == endpoint_id, EventEndpoint.failing_since.is_(None))
        .values(failing_since=now)
    )
    since = await session.scalar(select(EventEndpoint.failing_since).where(EventEndpoint.id == endpoint_id))
    return since or now


async def disable_endpoint(session: AsyncSession, endpoint_id: int, reason: str) -> None:
    await session.execute(
        update(EventEndpoint).where(EventEndpoint.id == endpoint_id).values(enabled=False, disabled_reason=reason)
    )
    await settings_changed(session, _account_of(endpoint_id))


async def enable_endpoint(session: AsyncSession, endpoint_id: int) -> None:
    await session.execute(
        update(EventEndpoint)
        .where(EventEndpoint.id == endpoint_id)
        .values(enabled=True, disabled_reason=None, failing_since=None)
    )
    await settings_changed(session, _account_of(endpoint_id))


async def create_endpoint(
    session: AsyncSession, account_id: int, url: str, event_types: list[str], secret: str
) -> EventEndpoint:
    endpoint = EventEndpoint(
        account_id=account_id,
        url=url,
        event_types=event_types,
        secret=secret,
        enabled=True,
        created_at=utcnow(),
    )
    session.add(endpoint)
    await session.flush()
    await settings_changed(session, account_id)
    return endpoint


async def list_endpoints(session: AsyncSession, account_id: int) -> list[EventEndpoint]:
    rows = await session.scalars(
        select(EventEndpoint).where(EventEndpoint.account_id == account_id).order_by(EventEndpoint.id)
    )
    return list(rows.all())


async def get_endpoint(session: AsyncSession, account_id: int | None, endpoint_id: int) -> EventEndpoint | None:
    """``account_id`` None looks in every account: for the operator's command line only."""
    query = select(EventEndpoint).where(EventEndpoint.id == endpoint_id)
    if account_id is not None:
        query = query.where(EventEndpoint.account_id == account_id)
    endpoint: EventEndpoint | None = await session.scalar(query)
    return endpoint


async def delete_endpoint(session: AsyncSession, endpoint_id: int) -> None:
    await settings_changed(session, _account_of(endpoint_id))
    await session.execute(delete(EventEndpoint).where(EventEndpoint.id == endpoint_id))


def _account_of(endpoint_id: int) -> ScalarSelect[int]:
    return select(EventEndpoint.account_id).where(EventEndpoint.id == endpoint_id).scalar_subquery()


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    event: Event
    last_attempt: DeliveryAttempt | None


async def list_deliveries(session: AsyncSession, endpoint_id: int, limit: int) -> list[DeliveryRow]:
    """The endpoint's newest deliveries, each with its event and its latest attempt."""
    rows = (
        await session.execute(
            select(Delivery, Event)
            .join(Event, Event.id == Delivery.event_id)
            .where(Delivery.endpoint_id == endpoint_id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    ).all()
    latest = await _latest_attempts(session, [delivery.id for delivery, _ in rows])
    return [DeliveryRow(delivery, event, latest.get(delivery.id)) for delivery, event in rows]


async def _latest_attempts(session: AsyncSession, delivery_ids: list[int]) -> dict[int, DeliveryAttempt]:
    if not delivery_ids:
        return {}
    newest = (
        select(DeliveryAttempt.id.label("id"))
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.id.desc())
    )
    attempts = await session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.id.in_(newest)))
    latest: dict[int, DeliveryAttempt] = {}
    for attempt in attempts:
        if attempt.id > getattr(latest.get(attempt.delivery_id), "id", 0):
            latest[attempt.delivery_id] = attempt
    return latest


async def get_delivery(session: AsyncSession, account_id: int | None, delivery_id: int) -> Delivery | None:
    query = select(Delivery).join(Event, Event.id == Delivery.event_id).where(Delivery.id == delivery_id)
    if account_id is not None:
        query = query.where(Event.account_id == account_id)
    delivery: Delivery | None = await session.scalar(query)
    return delivery


async def replay(session: AsyncSession, delivery: Delivery) -> Delivery:
    """A new delivery of the same event to the same endpoint, due now (same ``webhook-id``)."""
    now = utcnow()
    again = Delivery(
        event_id=delivery.event_id,
        endpoint_id=delivery.endpoint_id,
        conversation_id=delivery.conversation_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(again)
    await session.flush()
    return again


async def erase_conversation_events(session: AsyncSession, conversation_id: str) -> None:
    """A conversation's events (their text) go with it; their deliveries with them."""
    await session.execute(delete(Event).where(Event.conversation_id == conversation_id))
