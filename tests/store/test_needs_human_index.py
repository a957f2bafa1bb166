"""The console counts conversations needing a human on every page and, for each open page,
every second: the count and the filtered list must read the partial index, not the account's
every conversation."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store import conversations
from replyd.store.conversations import ConversationFilter
from tests.store.plans import query_plan


async def test_the_count_and_the_list_read_the_needs_human_index(
    db: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    if "sqlite" not in database_url:
        pytest.skip("PostgreSQL picks its plan by the table's statistics")
    count_plan = await query_plan(db, lambda session: conversations.count_needing_a_human(session, 1))
    assert "INDEX ix_conversations_needs_human" in count_plan
    waiting = ConversationFilter(needs_human=True)
    list_plan = await query_plan(db, lambda session: conversations.list_conversations(session, 1, waiting, 50))
    assert "INDEX ix_conversations_needs_human" in list_plan
