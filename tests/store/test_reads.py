"""Read marks: one per conversation and console sign-in, never moving back; the views' unread
counts read ranges of indexes only, however many conversations the account has."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store import accounts, activity, conversations, reads
from replyd.store.conversations import ConversationFilter
from replyd.store.reads import ConversationRead
from replyd.store.session import refresh_statistics
from tests.conftest import Tenant
from tests.store.plans import query_plan
from tests.store.test_list_indexes import seeded

__all__ = ["seeded"]  # the fixture, shared with the list's plans


async def marks(db: async_sessionmaker[AsyncSession], conversation_id: str) -> list[tuple[int, int]]:
    async with db() as session:
        rows = await session.execute(
            select(ConversationRead.token_id, ConversationRead.last_read_message_id).where(
                ConversationRead.conversation_id == conversation_id
            )
        )
        return sorted(tuple(row) for row in rows.all())  # type: ignore[misc]


async def test_a_mark_moves_forward_only_and_is_the_sign_ins_own(
    tenant: Tenant, make_tenant: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    other_token = (await tenant.client.post("/api/tokens", json={"scope": "operator", "name": "Ben"})).json()
    for token_id, message_id in [(tenant.token_id, 5), (tenant.token_id, 3), (other_token["token_id"], 2)]:
        async with db() as session, session.begin():
            await reads.mark_read(session, conversation_id, token_id, message_id)

    assert await marks(db, conversation_id) == sorted([(tenant.token_id, 5), (other_token["token_id"], 2)])
    async with db() as session, session.begin():
        await reads.mark_read(session, conversation_id, tenant.token_id, 9)
    assert (tenant.token_id, 9) in await marks(db, conversation_id)


VIEWS = {
    ConversationFilter(): "ix_conversations_account_activity",
    ConversationFilter(needs_human=True): "ix_conversations_needs_human",
    ConversationFilter(assigned_token_id=7): "ix_conversations_assigned_activity",
    ConversationFilter(unassigned=True): "ix_conversations_",
}


@pytest.mark.parametrize("where", list(VIEWS), ids=["all", "needs-human", "mine", "unassigned"])
async def test_a_views_unread_count_reads_indexes_only(
    seeded: tuple[async_sessionmaker[AsyncSession], int, int], where: ConversationFilter
) -> None:
    sessions, account_id, _ = seeded
    await refresh_statistics(sessions.kw["bind"])

    plan = await query_plan(sessions, lambda session: activity.count_unread(session, account_id, where, 7, 100))

    assert f"SEARCH conversations USING INDEX {VIEWS[where]}" in plan or (
        f"SEARCH conversations USING COVERING INDEX {VIEWS[where]}" in plan
    ), plan
    assert "SEARCH messages USING COVERING INDEX ix_messages_conversation (conversation_number=?)" in plan, plan
    assert "SEARCH conversation_reads USING INDEX sqlite_autoindex_conversation_reads_1" in plan, plan
    assert "SCAN conversations" not in plan and "SCAN messages" not in plan, plan


async def test_a_count_stops_at_its_cap_and_looks_at_the_newest_conversations_only(
    seeded: tuple[async_sessionmaker[AsyncSession], int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, account_id, _ = seeded
    everything = ConversationFilter()
    async with sessions() as session, session.begin():
        anna, ben = [(await accounts.create_token(session, account_id, scope="operator")).token.id for _ in "ab"]
        talked = list((await session.scalars(conversations.newest_conversations(account_id, everything, 150))).all())
        for conversation_id in talked:
            await conversations.add_message(session, conversation_id, author="customer", content="hi")
        await reads.mark_read(session, talked[0], anna, 2**40)

    async with sessions() as session:
        assert await activity.count_unread(session, account_id, everything, anna, 1000) == 149
        assert await activity.count_unread(session, account_id, everything, anna, 100) == 100
        assert await activity.count_unread(session, account_id, everything, ben, 1000) == 150  # Anna's read is hers
        monkeypatch.setattr(activity, "UNREAD_SCAN", 40)
        assert await activity.count_unread(session, account_id, everything, anna, 1000) == 39
