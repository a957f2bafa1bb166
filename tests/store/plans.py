"""SQLite's query plans for what a store function sends: how tests check that a read uses the
index it was given, not the table or another index."""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def statements_of(
    db: async_sessionmaker[AsyncSession], read: Callable[[AsyncSession], Awaitable[Any]]
) -> list[tuple[str, Any]]:
    """Each statement ``read`` sends, with its parameters, in order."""
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
    return sent


async def query_plan(db: async_sessionmaker[AsyncSession], read: Callable[[AsyncSession], Awaitable[Any]]) -> str:
    """SQLite's plan for the statement ``read`` sends first."""
    statement, parameters = (await statements_of(db, read))[0]
    async with db() as session:
        connection = await session.connection()
        rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return " ".join(str(row[-1]) for row in rows.all())
