"""An account's retention of its conversations: off by default, set by its admins, and enforced
by the upkeep every server runs, which erases conversations idle longer than that (as one
erases them through the API) and nothing else. Idle time is set in the database directly."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.services.upkeep import RETENTION_BATCH
from replyd.store import conversations
from replyd.store.tables import Conversation, LedgerEntry
from tests.api.test_errors import assert_error, detail_fields
from tests.conftest import Tenant, conversations_on, upkeep_on


async def test_retention_is_off_until_an_admin_sets_it_and_only_what_is_sent_changes(tenant: Tenant) -> None:
    assert (await tenant.client.get("/api/account")).json()["conversation_retention_days"] is None
    changed = await tenant.client.patch("/api/account", json={"conversation_retention_days": 30})
    assert changed.status_code == 200, changed.text
    assert changed.json()["conversation_retention_days"] == 30
    alert = await tenant.client.patch("/api/account", json={"balance_low_threshold": "1.00"})
    assert (alert.json()["conversation_retention_days"], alert.json()["balance_low_threshold"]) == (30, "1.00")
    off = await tenant.client.patch("/api/account", json={"conversation_retention_days": None})
    assert (off.json()["conversation_retention_days"], off.json()["balance_low_threshold"]) == (None, "1.00")


async def test_a_retention_that_is_not_a_number_of_days_is_refused_and_nothing_changes(tenant: Tenant) -> None:
    await tenant.client.patch("/api/account", json={"conversation_retention_days": 7})
    for bad in [0, -1, 36_501, "30", 1.5, True]:
        refused = await tenant.client.patch("/api/account", json={"conversation_retention_days": bad})
        assert detail_fields(assert_error(refused, 422, "VALIDATION_ERROR")) == ["conversation_retention_days"], bad
    both = {"conversation_retention_days": 0, "balance_low_threshold": "2.00"}
    assert_error(await tenant.client.patch("/api/account", json=both), 422, "VALIDATION_ERROR")
    assert_error(await tenant.client.patch("/api/account", json={}), 422, "VALIDATION_ERROR")
    account = (await tenant.client.get("/api/account")).json()
    assert (account["conversation_retention_days"], account["balance_low_threshold"]) == (7, None)


async def idle_for(db: async_sessionmaker[AsyncSession], days: float, *conversation_ids: str) -> None:
    """As if nothing happened in these conversations for ``days``."""
    async with db() as session, session.begin():
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_(conversation_ids))
            .values(updated_at=utcnow() - timedelta(days=days))
        )


async def conversation_ids(db: async_sessionmaker[AsyncSession], account_id: int) -> set[str]:
    async with db() as session:
        return set((await session.scalars(select(Conversation.id).where(Conversation.account_id == account_id))).all())


async def test_the_upkeep_erases_conversations_idle_past_the_retention_and_keeps_the_rest(
    make_tenant: Any, db: async_sessionmaker[AsyncSession], snapshot: Any
) -> None:
    tenant: Tenant = await make_tenant(reply_fee="0.01")
    keeping_all: Tenant = await make_tenant()
    old, recent, borderline = [
        (await tenant.reply(f"Hello {n}", customer=f"+4917{n}")).json()["conversation_id"] for n in range(3)
    ]
    theirs = (await keeping_all.reply("Hello", customer="+49170")).json()["conversation_id"]
    await idle_for(db, 40, old, theirs)
    await idle_for(db, 29.9, borderline)
    await tenant.client.patch("/api/account", json={"conversation_retention_days": 30})
    before = await snapshot(tenant.account_id)

    assert await upkeep_on(db).erase_expired_conversations() == 1
    assert await conversation_ids(db, tenant.account_id) == {recent, borderline}
    assert await conversation_ids(db, keeping_all.account_id) == {theirs}
    assert (await tenant.client.get(f"/api/conversations/{old}")).status_code == 404
    after = await snapshot(tenant.account_id)
    assert (after.ledger_entries, after.balance_micros) == (before.ledger_entries, before.balance_micros)
    async with db() as session:
        named = await session.scalars(
            select(LedgerEntry.conversation_id).where(LedgerEntry.account_id == tenant.account_id)
        )
        assert old not in named.all()
    assert await upkeep_on(db).erase_expired_conversations() == 0


async def test_the_upkeep_erases_every_idle_conversation_batch_after_batch(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        made = [
            await conversations.insert_conversation(session, tenant.account_id, tenant.assistant_id, f"c{n}", {})
            for n in range(RETENTION_BATCH * 2 + 1)
        ]
        for conversation in made:
            await conversations.add_message(session, conversation.id, author="customer", content="Hi")
    await idle_for(db, 2, *(c.id for c in made))
    await tenant.client.patch("/api/account", json={"conversation_retention_days": 1})
    assert await upkeep_on(db).erase_expired_conversations() == RETENTION_BATCH * 2 + 1
    assert await conversation_ids(db, tenant.account_id) == set()


async def test_a_conversation_that_speaks_again_after_the_sweep_looked_is_kept(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply("Hello")).json()["conversation_id"]
    await idle_for(db, 10, conversation_id)
    looked_at: datetime = utcnow() - timedelta(days=7)
    await tenant.reply("I am back", customer="+49155551234")  # activity after the sweep found it idle
    erasure = await conversations_on(db).erase(tenant.account_id, conversation_id, looked_at)
    assert erasure.conversation_ids == ()
    assert (await tenant.client.get(f"/api/conversations/{conversation_id}")).status_code == 200
