"""SQLite's one connection per process goes to the tasks that ask for it in the order they asked;
a task cancelled mid-statement ends cancelled, whatever the database; JSON columns keep what
they are given."""

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, exc, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from replyd.store.session import OneConnectionInTurn, create_engine
from replyd.store.sqlite_inline import inline_connector
from tests.servers import eventually


async def until_all_wait() -> None:
    """Let every task that can run go on until it waits (no clock involved)."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_the_connection_goes_to_tasks_in_the_order_they_asked(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    order: list[str] = []

    async def use(name: str) -> None:
        async with engine.connect() as db:
            await db.execute(text("SELECT 1"))
            order.append(name)

    try:
        holder = await engine.connect().start()
        waiting = []
        for name in ("first", "second", "third"):
            waiting.append(asyncio.create_task(use(name)))
            await until_all_wait()
        await holder.close()  # "first" is woken for the connection, but before it runs ...
        await use("the one that just gave it back")  # ... the one that gave it back asks again
        await asyncio.gather(*waiting)
    finally:
        await engine.dispose()
    # SQLAlchemy's own pool would give it to the one that asked last, and send "first" to the
    # back of the line: ["the one that just gave it back", "second", "third", "first"].
    assert order == ["first", "second", "third", "the one that just gave it back"]


async def test_a_task_that_waits_too_long_is_told_so(tmp_path: Path) -> None:
    engine = create_async_engine(
        "sqlite+aiosqlite://",
        async_creator=inline_connector(str(tmp_path / "turns.db")),
        poolclass=OneConnectionInTurn,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.01,
    )
    try:
        holder = await engine.connect().start()
        with pytest.raises(exc.TimeoutError):  # the holder does not give it back in time
            await engine.connect().start()
        await holder.close()
        async with engine.connect() as db:  # and the turn it gave up is not lost
            assert (await db.scalar(text("SELECT 1"))) == 1
    finally:
        await engine.dispose()


async def test_a_task_cancelled_while_waiting_leaves_its_turn_to_the_next(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        holder = await engine.connect().start()
        cancelled = asyncio.create_task(engine.connect().start())
        next_one = asyncio.create_task(engine.connect().start())
        await until_all_wait()
        await holder.close()  # "cancelled" is woken for the connection, and cancelled before it runs
        cancelled.cancel()
        connection = await next_one
        assert (await connection.scalar(text("SELECT 1"))) == 1
        await connection.close()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    finally:
        await engine.dispose()


def test_only_sqlite_takes_turns(tmp_path: Path) -> None:
    assert isinstance(create_engine(f"sqlite:///{tmp_path / 'turns.db'}").pool, OneConnectionInTurn)
    assert type(create_engine("postgresql://replyd@127.0.0.1/replyd").pool) is AsyncAdaptedQueuePool


async def test_a_task_cancelled_mid_statement_ends_cancelled_not_told_the_database_is_away(database_url: str) -> None:
    """SQLAlchemy drops the connection of a cancelled statement as it drops a lost one; only a
    lost one is an outage. Told ServiceUnavailable instead, a background loop took its
    cancelling at shutdown for an outage, went on, and kept its process from exiting."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL: a SQLite statement runs to its end")
    engine = create_engine(database_url)
    sleep = "SELECT pg_sleep(10)"

    async def sleep_in_the_database() -> None:
        async with engine.connect() as db:
            await db.execute(text(sleep))

    async def sleeping() -> bool:
        async with engine.connect() as db:
            running = "SELECT count(*) FROM pg_stat_activity WHERE query = :sleep AND state = 'active'"
            return bool(await db.scalar(text(running), {"sleep": sleep}))

    try:
        task = asyncio.create_task(sleep_in_the_database())
        await eventually(sleeping)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await engine.dispose()


async def test_json_columns_keep_what_orjson_refuses_and_text_beyond_ascii(database_url: str) -> None:
    """JSON columns are written by orjson, and by the standard library where orjson refuses
    (integers beyond 64 bits, which a conversation's variables may hold): both read back alike."""
    values = [{"order": 2**70, "name": "Jürgen 🙂"}, {"count": 3, "note": "Grüße", "7": [1.5, None, True]}]
    table = Table(
        f"json_values_{uuid.uuid4().hex[:8]}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("value", JSON),
    )
    engine = create_engine(database_url)
    try:
        async with engine.begin() as db:
            await db.run_sync(table.create)
            await db.execute(table.insert(), [{"value": value} for value in values])
        async with engine.begin() as db:
            assert list((await db.execute(select(table.c.value).order_by(table.c.id))).scalars()) == values
            await db.run_sync(table.drop)
    finally:
        await engine.dispose()
