"""Each filter of the conversation list reads a range of its own index, a deep page as cheaply
as the first, once SQLite has its statistics: what a serving process gathers at start."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.functions.signing import new_webhook_secret
from replyd.services.assistant_config import AssistantConfig
from replyd.store import accounts, conversations, labels
from replyd.store.assistants import create_assistant
from replyd.store.conversations import ActivityKey, ConversationFilter
from replyd.store.migrate import upgrade_database
from replyd.store.session import refresh_statistics
from replyd.store.tables import CONVERSATIONS
from tests.conftest import STUB_MODEL, sessions_on
from tests.servers import eventually
from tests.store.plans import query_plan

ASSISTANTS, CONVERSATIONS_EACH = 10, 300
TYPES = ("api", "api", "api", "widget", "test")


async def seed(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """An account of ``ASSISTANTS`` assistants with ``CONVERSATIONS_EACH`` conversations each,
    a few waiting for a human; its id and its first assistant's."""
    config = AssistantConfig.model_validate({"name": "Seeded", "model": STUB_MODEL})
    async with sessions() as session, session.begin():
        account = await accounts.create_account(session, "seeded", 0, new_webhook_secret())
        assistant_ids = [
            (await create_assistant(session, account.id, config.to_columns())).id for _ in range(ASSISTANTS)
        ]
        start = utcnow()
        rows = [
            {
                "id": f"{a:08x}-0000-4000-8000-{n:012x}",
                "account_id": account.id,
                "assistant_id": assistant_id,
                "customer_identifier": f"+49{n}",
                "type": TYPES[n % len(TYPES)],
                "variables": {},
                "needs_human": n % 100 == 0,
                "created_at": start,
                "updated_at": start + timedelta(seconds=n),
            }
            for a, assistant_id in enumerate(assistant_ids)
            for n in range(CONVERSATIONS_EACH)
        ]
        await session.execute(insert(CONVERSATIONS), rows)
    return account.id, assistant_ids[0]


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], int, int]]:
    url = f"sqlite:///{tmp_path}/lists.db"
    await asyncio.to_thread(upgrade_database, url)
    async with sessions_on(url) as sessions:
        yield sessions, *await seed(sessions)


async def test_every_filter_of_the_list_reads_a_range_of_its_own_index(
    seeded: tuple[async_sessionmaker[AsyncSession], int, int],
) -> None:
    sessions, account_id, assistant_id = seeded
    await refresh_statistics(sessions.kw["bind"])
    deep = ActivityKey(utcnow() + timedelta(seconds=100), 2**40)
    expected = {
        ConversationFilter(): "ix_conversations_account_activity (account_id=? AND (updated_at,number)<(?,?))",
        ConversationFilter(assistant_id=assistant_id): "ix_conversations_assistant_activity (assistant_id=? AND",
        ConversationFilter(type="widget"): "ix_conversations_type_activity (account_id=? AND type=? AND",
        ConversationFilter(customer_identifier="+4950"): "ix_conversations_customer (account_id=? AND customer",
        ConversationFilter(needs_human=True): "ix_conversations_needs_human (account_id=? AND",
    }
    for where, index in expected.items():
        plan = await query_plan(
            sessions,
            lambda session, where=where: conversations.list_conversations(session, account_id, where, 16, deep),
        )
        assert f"SEARCH conversations USING INDEX {index}" in plan, (where, plan)
        assert where.customer_identifier or "TEMP B-TREE" not in plan, (where, plan)


async def test_the_labels_in_use_are_read_from_the_labels_not_from_every_conversation(
    seeded: tuple[async_sessionmaker[AsyncSession], int, int],
) -> None:
    """The console's list shows the account's labels as a filter on every page. Statistics
    gathered before the first label is put are the hard case: SQLite then took the labels'
    table for as large as any and walked the account's conversations."""
    sessions, account_id, _ = seeded
    await refresh_statistics(sessions.kw["bind"])
    async with sessions() as session, session.begin():
        newest_two = conversations.newest_conversations(account_id, ConversationFilter(), 2)
        newest = list((await session.scalars(newest_two)).all())
        for conversation_id, label in zip(newest * 2, ["vip", "refund", "vip", "late"], strict=True):
            await labels.add_label(session, conversation_id, label)

    async with sessions() as session:
        assert await labels.labels_in_use(session, account_id) == ["late", "refund", "vip"]
        assert await labels.labels_in_use(session, account_id + 1) == []
    plan = await query_plan(sessions, lambda session: labels.labels_in_use(session, account_id))
    assert "SEARCH conversations USING INDEX sqlite_autoindex_conversations_1 (id=?)" in plan, plan
    assert "SEARCH conversations USING COVERING INDEX ix_conversations" not in plan, plan


async def test_a_serving_process_gathers_sqlites_statistics_at_start(
    seeded: tuple[async_sessionmaker[AsyncSession], int, int],
    start_server: Callable[..., AbstractContextManager[str]],
) -> None:
    sessions = seeded[0]

    async def analysed() -> Any:
        async with sessions() as session:
            found = await session.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"))
            return found and await session.scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'conversations'"))

    assert not await analysed()
    with start_server(database_url=str(sessions.kw["bind"].url).replace("+aiosqlite", "")):
        await eventually(analysed)
