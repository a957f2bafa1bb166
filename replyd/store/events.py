"""The event outbox: each account's endpoints, the events written in the same transaction as
the change they report, one delivery per event and subscribed endpoint, and a log of every
attempt. Deliveries are claimed with a lease (a conditional update), so that any number of
server processes can deliver without two sending the same attempt at once."""

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    ScalarSelect,
    Select,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from replyd.clock import utcnow
from replyd.store.accounts import settings_changed
from replyd.store.session import Executor, on_postgresql
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
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    """Set: the endpoint is how that channel sends (it takes ``channel.outgoing`` aimed at it, and
    no API lists it); None: an integrator's URL."""
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None]
    """When its deliveries started failing, until one succeeds."""
    created_at: Mapped[datetime]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index(
            "ix_events_to_fan_out", "id", sqlite_where=text("fanned_out = 0"), postgresql_where=text("NOT fanned_out")
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40))
    """``evt_...``: the ``webhook-id`` of every delivery of it, retries and replays alike.
    Unique as it is made, without an index to say so (nothing looks an event up by it)."""
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(36), index=True)
    """Deliveries of one conversation's events go out in order; erasing it erases them."""
    data: Mapped[dict[str, Any]]
    channel_id: Mapped[int | None] = mapped_column(BigId)
    """The one channel a ``channel.outgoing`` is for."""
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
    """A delivery claimed for sending, with what sending needs. The event's data comes as the
    JSON text stored, which an endpoint's delivery sends as it is (decoding it to encode it
    again cost 3.5% of a delivery's instructions); a channel's, which reads it, decodes it."""

    delivery_id: int
    attempts: int
    conversation_id: str | None
    url: str
    secret: str
    endpoint_id: int
    channel_id: int | None
    """Set: the delivery goes out on this channel, to the platform, not to a URL."""
    event_public_id: str
    event_type: str
    event_created_at: datetime
    data_json: str

    @functools.cached_property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.data_json)
        return data


ENDPOINTS = cast(Table, EventEndpoint.__table__)
EVENTS = cast(Table, Event.__table__)
INSERT_EVENT = insert(EVENTS)
"""Built once: replies write events."""


def event_row(
    account_id: int,
    type: str,
    data: dict[str, Any],
    public_id: str,
    conversation_id: str | None,
    channel_id: int | None = None,
) -> dict[str, Any]:
    """An event as the outbox stores it (``INSERT_EVENT``'s parameters)."""
    return {
        "public_id": public_id,
        "account_id": account_id,
        "type": type,
        "conversation_id": conversation_id,
        "data": data,
        "channel_id": channel_id,
        "fanned_out": False,
        "created_at": utcnow(),
    }


async def record_events(db: Executor, rows: list[dict[str, Any]]) -> None:
    """Write events (``event_row``s) into the outbox, in the caller's transaction with the change
    they report."""
    await db.execute(INSERT_EVENT, rows)


ENABLED_TYPES = select(ENDPOINTS.c.event_types).where(
    ENDPOINTS.c.account_id == bindparam("account_id"), ENDPOINTS.c.enabled.is_(True)
)


async def enabled_endpoint_types(db: Executor, account_id: int) -> list[list[str]]:
    """The types each enabled endpoint of the account takes (empty: every type)."""
    return list((await db.execute(ENABLED_TYPES, {"account_id": account_id})).scalars().all())


DELIVERIES = cast(Table, Delivery.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)


# The delivery loop's statements are built once, with bound parameters, and their rows read by
# position: statements built every round and columns read by name cost a delivered event 13% of
# its instructions (docs/performance.md).
FAN_OUT = (
    update(EVENTS)
    .where(
        EVENTS.c.id.in_(
            select(EVENTS.c.id)
            .where(not_(EVENTS.c.fanned_out))
            .order_by(EVENTS.c.id)
            .limit(bindparam("limit"))
            .with_for_update()
        ),
        not_(EVENTS.c.fanned_out),
    )
    .values(fanned_out=True)
    .returning(EVENTS.c.id, EVENTS.c.account_id, EVENTS.c.type, EVENTS.c.conversation_id, EVENTS.c.channel_id)
)
FAN_OUT_ENDPOINTS = select(
    ENDPOINTS.c.id, ENDPOINTS.c.account_id, ENDPOINTS.c.event_types, ENDPOINTS.c.channel_id
).where(ENDPOINTS.c.account_id.in_(bindparam("account_ids", expanding=True)), ENDPOINTS.c.enabled.is_(True))
INSERT_DELIVERY = insert(DELIVERIES)


async def fan_out(session: AsyncSession, now: datetime, limit: int) -> int:
    """Make the deliveries of events not yet fanned out, one per enabled endpoint of the
    account that takes the event's type; how many events. Each event is fanned out once, by
    whichever process marks it first. A process waits for the events another marks rather
    than skip them: a conversation's later event must not get its delivery before an earlier
    one (each process locks in the events' order, so two never wait on each other)."""
    marked = sorted((await session.execute(FAN_OUT, {"limit": limit})).all())  # by id: a conversation's first first
    if not marked:
        return 0
    account_ids = list({account_id for _, account_id, *_ in marked})
    endpoints = (await session.execute(FAN_OUT_ENDPOINTS, {"account_ids": account_ids})).all()
    deliveries = [
        {
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "conversation_id": conversation_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event_id, account_id, type, conversation_id, channel_id in marked
        for endpoint_id, endpoint_account_id, event_types, endpoint_channel_id in endpoints
        if endpoint_account_id == account_id and _takes(event_types, endpoint_channel_id, type, channel_id)
    ]
    if deliveries:
        await session.execute(INSERT_DELIVERY, deliveries)
    return len(marked)


CLAIMING = 0x7265706C  # "repl": the PostgreSQL advisory lock that lets one process claim at a time


def _takes(event_types: list[str], endpoint_channel_id: int | None, type: str, channel_id: int | None) -> bool:
    """An event aimed at a channel goes to that channel's endpoint alone; any other, to the
    integrators' endpoints that take its type (empty: every type)."""
    if channel_id is not None or endpoint_channel_id is not None:
        return endpoint_channel_id == channel_id
    return not event_types or type in event_types


def _sendable() -> Select[tuple[int]]:
    """Pending deliveries whose time (``:now``) has come and that no process holds, of enabled
    endpoints, oldest first, at most ``:limit``; of a conversation's at an endpoint, only those
    before the first that waits (for its retry, or held by a process): a conversation's
    deliveries go out in order. The waiting are found by grouping the pending ones, so that a
    round reads those alone, never a long conversation's delivered ones."""
    now: BindParameter[datetime] = bindparam("now")
    waiting = (
        select(
            DELIVERIES.c.endpoint_id,
            DELIVERIES.c.conversation_id,
            func.min(DELIVERIES.c.id).label("first_id"),
        )
        .where(
            DELIVERIES.c.status == "pending",
            DELIVERIES.c.conversation_id.is_not(None),
            (DELIVERIES.c.next_attempt_at > now) | (DELIVERIES.c.locked_until >= now),
        )
        .group_by(DELIVERIES.c.endpoint_id, DELIVERIES.c.conversation_id)
        .subquery()
    )
    return (
        select(DELIVERIES.c.id)
        .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
        .outerjoin(
            waiting,
            (waiting.c.endpoint_id == DELIVERIES.c.endpoint_id)
            & (waiting.c.conversation_id == DELIVERIES.c.conversation_id),
        )
        .where(
            DELIVERIES.c.status == "pending",
            DELIVERIES.c.next_attempt_at <= now,
            DELIVERIES.c.locked_until.is_(None) | (DELIVERIES.c.locked_until < now),
            ENDPOINTS.c.enabled.is_(True),
            waiting.c.first_id.is_(None) | (DELIVERIES.c.id < waiting.c.first_id),
        )
        .order_by(DELIVERIES.c.id)
        .limit(bindparam("limit"))
    )


CLAIM = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id.in_(_sendable()))
    .values(locked_until=bindparam("locked_until"))
    .returning(DELIVERIES.c.id)
)
CLAIMED = (
    select(
        DELIVERIES.c.id,
        DELIVERIES.c.attempts,
        DELIVERIES.c.conversation_id,
        ENDPOINTS.c.url,
        ENDPOINTS.c.secret,
        ENDPOINTS.c.id,
        ENDPOINTS.c.channel_id,
        EVENTS.c.public_id,
        EVENTS.c.type,
        EVENTS.c.created_at,
        EVENTS.c.data.cast(Text),
    )
    .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
    .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
    .where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(DELIVERIES.c.id)
)
"""``Due``'s fields, in its order."""


async def claim_due(session: AsyncSession, now: datetime, lease: timedelta, limit: int) -> list[Due]:
    """Hold up to ``limit`` sendable deliveries for ``lease``; what sending each needs, oldest
    first. Processes claim one at a time (on SQLite the one writer, on PostgreSQL an advisory
    lock until the caller commits): each sees what the others hold, so no two send
    deliveries of one conversation at once, let alone the same."""
    if on_postgresql(session):
        await session.execute(select(func.pg_advisory_xact_lock(CLAIMING)))
    claim = {"now": now, "limit": limit, "locked_until": now + lease}
    claimed = (await session.scalars(CLAIM, claim)).all()
    if not claimed:
        return []
    return [Due(*row) for row in await session.execute(CLAIMED, {"ids": list(claimed)})]


async def delete_settled(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` events made before ``before`` that nothing will send again (each
    of their deliveries delivered or failed for good; none pending, at a disabled endpoint
    either), oldest first, their deliveries and attempts with them (the foreign keys cascade);
    how many."""
    pending = select(DELIVERIES.c.id).where(DELIVERIES.c.event_id == EVENTS.c.id, DELIVERIES.c.status == "pending")
    settled = (
        select(EVENTS.c.id)
        .where(EVENTS.c.created_at < before, EVENTS.c.fanned_out, ~pending.exists())
        .order_by(EVENTS.c.id)
        .limit(limit)
    )
    deleted = await session.execute(delete(EVENTS).where(EVENTS.c.id.in_(settled)))
    return int(deleted.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, delivery_ids: list[int]) -> None:
    """Let go of claimed deliveries that were not attempted: due again at once."""
    await session.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(delivery_ids)).values(locked_until=None))


@dataclass(frozen=True)
class Attempt:
    """One attempt at a delivery, and what it left the delivery: ``delivered``, ``failed``
    for good, or ``pending`` again until ``next_attempt_at``."""

    delivery_id: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_excerpt: str | None
    error: str | None
    status: str
    attempts: int
    next_attempt_at: datetime


SETTLE = (  # what an attempt that did not deliver leaves its delivery
    update(DELIVERIES)
    .where(DELIVERIES.c.id == bindparam("delivery_id"))
    .values(
        status=bindparam("status"),
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_attempt_at"),
        locked_until=None,
    )
)

DELIVERED = (
    update(DELIVERIES)
    .where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status="delivered",
        attempts=DELIVERIES.c.attempts + 1,
        next_attempt_at=bindparam("now"),
        delivered_at=select(func.max(ATTEMPTS.c.attempted_at))
        .where(ATTEMPTS.c.delivery_id == DELIVERIES.c.id)
        .scalar_subquery(),
        locked_until=None,
    )
)
"""What a delivered attempt leaves its delivery, for all of a round's in one statement (most
attempts deliver; one ``UPDATE`` each cost a delivery 4% of its instructions): delivered when
the attempt logged just before started."""

REMAINING = (
    select(DELIVERIES.c.id).where(DELIVERIES.c.id.in_(bindparam("ids", expanding=True))).with_for_update(key_share=True)
)
INSERT_ATTEMPT = insert(ATTEMPTS)


async def settle(session: AsyncSession, attempts: list[Attempt], now: datetime) -> None:
    """Log each attempt and leave its delivery as it says, all in the caller's transaction.
    Deliveries gone meanwhile (their endpoint removed, their conversation erased) are passed
    over; those left are locked against removal until the caller commits."""
    kept = set((await session.scalars(REMAINING, {"ids": [a.delivery_id for a in attempts]})).all())
    attempts = [a for a in attempts if a.delivery_id in kept]
    if not attempts:
        return
    await session.execute(
        INSERT_ATTEMPT,
        [
            {
                "delivery_id": a.delivery_id,
                "attempted_at": a.attempted_at,
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "response_excerpt": a.response_excerpt,
                "error": a.error,
            }
            for a in attempts
        ],
    )
    delivered = [a.delivery_id for a in attempts if a.status == "delivered"]
    if delivered:
        await session.execute(DELIVERED, {"ids": delivered, "now": now})
    others = [
        {"delivery_id": a.delivery_id, "status": a.status, "attempts": a.attempts, "next_attempt_at": a.next_attempt_at}
        for a in attempts
        if a.status != "delivered"
    ]
    if others:
        await session.execute(SETTLE, others)


ENDPOINTS_SUCCEEDED = (
    update(ENDPOINTS)
    .where(ENDPOINTS.c.id.in_(bindparam("ids", expanding=True)), ENDPOINTS.c.failing_since.is_not(None))
    .values(failing_since=None)
)


async def endpoints_succeeded(session: AsyncSession, endpoint_ids: set[int]) -> None:
    """They are failing no longer."""
    await session.execute(ENDPOINTS_SUCCEEDED, {"ids": list(endpoint_ids)})


async def endpoints_failed(session: AsyncSession, endpoint_ids: set[int], now: datetime) -> dict[int, datetime]:
    """Note the failures; since when each endpoint has been failing."""
    await session.execute(
        update(ENDPOINTS)
        .where(ENDPOINTS.c.id.in_(endpoint_ids), ENDPOINTS.c.failing_since.is_(None))
        .values(failing_since=now)
    )
    rows = await session.execute(
        select(ENDPOINTS.c.id, ENDPOINTS.c.failing_since).where(ENDPOINTS.c.id.in_(endpoint_ids))
    )
    return {endpoint_id: since or now for endpoint_id, since in rows}


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
    session: AsyncSession, account_id: int, url: str, event_types: list[str], secret: str, channel_id: int | None = None
) -> EventEndpoint:
    endpoint = EventEndpoint(
        account_id=account_id,
        url=url,
        event_types=event_types,
        secret=secret,
        channel_id=channel_id,
        enabled=True,
        created_at=utcnow(),
    )
    session.add(endpoint)
    await session.flush()
    await settings_changed(session, account_id)
    return endpoint


async def list_endpoints(session: AsyncSession, account_id: int) -> list[EventEndpoint]:
    rows = await session.scalars(
        select(EventEndpoint)
        .where(EventEndpoint.account_id == account_id, EventEndpoint.channel_id.is_(None))
        .order_by(EventEndpoint.id)
    )
    return list(rows.all())


async def get_endpoint(session: AsyncSession, account_id: int | None, endpoint_id: int) -> EventEndpoint | None:
    """``account_id`` None looks in every account, channels' endpoints too: for the operator's
    command line only."""
    query = select(EventEndpoint).where(EventEndpoint.id == endpoint_id)
    if account_id is not None:
        query = query.where(EventEndpoint.account_id == account_id, EventEndpoint.channel_id.is_(None))
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
