"""The console counts conversations needing a human on every page and, for each open page,
every second: the count and the filtered list must read the partial index, not the account's
every conversation."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store import conversations
from replyd.store.conversations import ConversationFilter


async def query_plan(db: async_sessionmaker[AsyncSession], read: Callable[[AsyncSession], Awaitable[Any]]) -> str:
    """SQLite's plan for the statement ``read`` sends first."""
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    engine = db.kw["bind"].sync_engine
    async with db() as session:
        event.listen(engine, "before_cursor_execute", keep)
        try:
            await read(session)
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        statement, parameters = sent[0]
        connection = await session.connection()
        rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return " ".join(str(row[-1]) for row in rows.all())


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
