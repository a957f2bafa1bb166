"""The outbox does not grow for ever: the upkeep every server runs deletes, once
``REPLYD_WEBHOOK_LOG_DAYS`` (30) have passed, the events that nothing will send again, with their
deliveries and the attempts' log; an event with a delivery still pending (retrying, or waiting
at a disabled endpoint) is kept whatever its age. Ages are set in the database directly; the
database is shared with other tests, so each test counts its own account's outbox. With 0 days
nothing is deleted."""

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.functions.signing import new_webhook_secret
from replyd.services.upkeep import EVENTS_BATCH
from replyd.store import events
from replyd.store.events import ATTEMPTS, DELIVERIES, EVENTS, event_row
from tests.conftest import Tenant, upkeep_on


async def outbox(db: async_sessionmaker[AsyncSession], account_id: int) -> tuple[set[str], int, int]:
    """The account's events' public ids, and how many deliveries and attempts they have."""
    mine = EVENTS.c.account_id == account_id
    async with db() as session:
        public_ids = set((await session.scalars(select(EVENTS.c.public_id).where(mine))).all())
        deliveries = await session.scalar(select(func.count()).select_from(DELIVERIES.join(EVENTS)).where(mine))
        attempts = await session.scalar(
            select(func.count()).select_from(ATTEMPTS.join(DELIVERIES).join(EVENTS)).where(mine)
        )
    return public_ids, deliveries or 0, attempts or 0


async def made_days_ago(db: async_sessionmaker[AsyncSession], days: float, *public_ids: str) -> None:
    async with db() as session, session.begin():
        made = utcnow() - timedelta(days=days)
        await session.execute(update(EVENTS).where(EVENTS.c.public_id.in_(public_ids)).values(created_at=made))


async def test_events_nothing_will_send_again_are_deleted_after_the_log_days_with_their_log(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    names = ["delivered", "failed", "pending", "recent", "borderline"]
    async with db() as session, session.begin():
        await events.create_endpoint(session, tenant.account_id, "https://example.com/events", [], new_webhook_secret())
        for name in names:
            await events.record_events(
                session, [event_row(tenant.account_id, "message.created", {"n": name}, name, "c1")]
            )
        await events.fan_out(session, utcnow(), 100)
        due = await events.claim_due(session, utcnow(), timedelta(seconds=60), 100)
        by_name = {d.event_public_id: d for d in due}
        ended = {"delivered": "delivered", "failed": "failed", "recent": "delivered", "borderline": "delivered"}
        attempts = [
            events.Attempt(by_name[name].delivery_id, utcnow(), 200, 3, "", None, status, 1, utcnow())
            for name, status in ended.items()
        ]
        await events.settle(session, attempts, utcnow())
    await made_days_ago(db, 40, "delivered", "failed", "pending")
    await made_days_ago(db, 29.9, "borderline")
    assert await outbox(db, tenant.account_id) == (set(names), 5, 4)
    assert await upkeep_on(db, event_log_days=0).forget_settled_events() == 0
    assert await outbox(db, tenant.account_id) == (set(names), 5, 4)

    assert await upkeep_on(db).forget_settled_events() == 2
    kept = {"pending", "recent", "borderline"}
    assert await outbox(db, tenant.account_id) == (kept, 3, 2)  # the two deleted had an attempt each
    assert await upkeep_on(db).forget_settled_events() == 0


async def test_the_upkeep_deletes_old_events_batch_after_batch(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    count = 2 * EVENTS_BATCH + 1
    async with db() as session, session.begin():
        for n in range(count):  # no endpoint takes them: fanned out, they have no delivery
            await events.record_events(
                session, [event_row(tenant.account_id, "message.created", {"n": n}, f"evt_{n}", "c1")]
            )
        await events.fan_out(session, utcnow(), count)
        old = utcnow() - timedelta(days=31)
        await session.execute(update(EVENTS).where(EVENTS.c.account_id == tenant.account_id).values(created_at=old))
    async with db() as session, session.begin():  # a batch is no larger than asked
        assert await events.delete_settled(session, utcnow() - timedelta(days=30), 10) == 10
    assert await upkeep_on(db).forget_settled_events() == count - 10
    assert await outbox(db, tenant.account_id) == (set(), 0, 0)
