"""The async database engine. Users write plain ``sqlite:///...`` or ``postgresql://...``
URLs; replyd swaps in the async driver (aiosqlite, asyncpg) itself."""

import asyncio
import json
from typing import Any, TypeAlias

import orjson
from sqlalchemy import event, exc, text
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_

from replyd.errors import ServiceUnavailable
from replyd.store.sqlite_inline import inline_connector
from replyd.store.words import has_words

Executor: TypeAlias = AsyncSession | AsyncConnection
"""Where a repository function runs its Core statements: a session, or a bare connection. The
reply path uses connections: an ORM session's bookkeeping (identity map, unit of work, flush)
cost a reply more CPU than its statements (docs/performance.md, issue 12)."""

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}


def async_url(url: str) -> str:
    """``sqlite:///x.db`` -> ``sqlite+aiosqlite:///x.db``; a URL naming its driver is kept."""
    parsed = make_url(url)
    driver = ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None and "+" not in parsed.drivername:
        raise ValueError(f"Unsupported database URL {parsed.drivername}://...; use sqlite:/// or postgresql://")
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


def display_url(url: str) -> str:
    """The URL with its password masked, for printing."""
    return make_url(url).render_as_string(hide_password=True)


def json_text(value: Any) -> str:
    """A JSON column's value as stored: orjson's text, made in a seventh of the standard
    library's time (an event's payload: 1.1 µs, not 8.2; every reply stores two); the
    standard library's for the integers beyond 64 bits that orjson refuses."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def create_engine(url: str) -> AsyncEngine:
    full_url = async_url(url)
    if not full_url.startswith("sqlite"):
        # Timestamps are UTC everywhere; PostgreSQL sessions say so too, for date arithmetic.
        utc = {"server_settings": {"timezone": "UTC"}}
        server = create_async_engine(full_url, connect_args=utc, json_serializer=json_text)
        event.listen(server.sync_engine, "do_connect", _connect_or_unavailable)
        event.listen(server.sync_engine, "checkout", _ping)
        event.listen(server.sync_engine, "handle_error", _lost_is_unavailable)
        return server
    # SQLite takes one writer at a time and makes others poll for the lock, so under load a
    # write could wait past any timeout. One connection per process queues every transaction
    # in turn instead (OneConnectionInTurn); several processes on one SQLite file still meet
    # the busy timeout (use PostgreSQL for those). Its calls run on the event loop
    # (sqlite_inline.py).
    engine = create_async_engine(
        full_url,
        async_creator=inline_connector(make_url(full_url).database or ":memory:"),
        poolclass=OneConnectionInTurn,
        pool_size=1,
        max_overflow=0,
        pool_timeout=120,
        json_serializer=json_text,
    )
    event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


class OneConnectionInTurn(AsyncAdaptedQueuePool):
    """SQLite's one connection per process, lent to one task at a time in the order they asked.

    SQLAlchemy's async pool makes tasks wait on an ``asyncio.Queue``, which is not first come,
    first served: a task that asks just as the connection comes back takes it ahead of the task
    woken for it, and that one goes to the back of the line. At 64 customers the slowest replies
    lost their place five or six times each and waited over a second (docs/performance.md,
    issue 12, part 3). Here every task first waits for its turn on an ``asyncio.Lock``, which is
    fair: a task that asks while others wait waits behind them. The turn is held for as long as
    the connection is out, so the pool itself always has the connection ready.

    SQLAlchemy has no public hook before a checkout waits, so this overrides the two methods
    every pool implements, ``_do_get`` and ``_do_return_conn``, and waits the way the pool's own
    queue does (``await_``: the pool runs in SQLAlchemy's greenlet, called from async code)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn = asyncio.Lock()

    def _do_get(self) -> ConnectionPoolEntry:
        await_(self._wait_for_turn())
        try:
            return super()._do_get()
        except BaseException:
            self._turn.release()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._turn.release()

    async def _wait_for_turn(self) -> None:
        try:
            async with asyncio.timeout(self.timeout()):
                await self._turn.acquire()
        except TimeoutError:
            raise exc.TimeoutError(f"No turn at the SQLite connection within {self.timeout():g} s") from None


def _connect_or_unavailable(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
    """A database server out of reach is ``ServiceUnavailable`` (503: retry soon), as Redis
    is, not an unexplained 500. asyncpg raises OSError when it cannot connect, which
    SQLAlchemy passes on as it is."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise ServiceUnavailable() from exc


def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Make sure a pooled PostgreSQL connection still works before a transaction starts on it
    (the server may have restarted, or a firewall dropped it); if not, it and all pooled before
    it are replaced, as SQLAlchemy's ``pool_pre_ping`` would. That ping, on asyncpg, is three
    round trips (BEGIN, a query, ROLLBACK: for PgBouncer's transaction mode, which replyd does
    not use); this is one, ``SELECT 1``: two round trips fewer for every transaction, a
    reply's two or three among them (docs/performance.md)."""
    try:
        await_(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as lost:
        raise exc.InvalidatePoolError(str(lost)) from lost


def _lost_is_unavailable(context: ExceptionContext) -> None:
    """A connection lost mid-transaction is ``ServiceUnavailable`` too (SQLAlchemy has already
    dropped it from the pool). If it was lost during a COMMIT, the transaction may have been
    stored all the same; a retry with the same Idempotency-Key then gets its answer. A task
    cancelled mid-statement (SQLAlchemy drops the connection then too) is left alone: it must
    end cancelled, or a background loop would take it for an outage and never stop. (A pooled
    connection found dead by ``_ping`` never gets here: the pool connects anew.)"""
    if context.is_disconnect and isinstance(context.original_exception, Exception):
        raise ServiceUnavailable() from context.original_exception


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; the busy timeout makes a second writer
    wait instead of failing with "database is locked". ``replyd_has_words`` is a search's
    check of a message (``store/words.py``)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
    cursor.close()
    dbapi_connection.create_function("replyd_has_words", 2, has_words, deterministic=True)


ANALYSIS_LIMIT = 1000
"""Rows ANALYZE reads per index: enough for the planner's estimates, and a few milliseconds
at any size of table (SQLite's own advice is a few hundred)."""


async def refresh_statistics(engine: AsyncEngine) -> None:
    """Have SQLite gather its tables' statistics where they are missing or stale (``PRAGMA
    optimize``). Without them it picks an index by rules of thumb: a list filtered by customer
    walked the account's activity index, 48 times slower at 200,000 conversations (issue 19).
    SQLite before 3.46 only looks at tables its connection has queried, so a database never
    analysed is analysed here outright. PostgreSQL's autovacuum keeps its own statistics."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.begin() as connection:
        analysed = await connection.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"))
        await connection.exec_driver_sql("PRAGMA optimize=0x10002" if analysed else "ANALYZE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def on_postgresql(db: Executor) -> bool:
    bind = db.get_bind() if isinstance(db, AsyncSession) else db
    return bind.dialect.name == "postgresql"


def insert_or_skip(session: AsyncSession, table: Any) -> PostgresInsert | SqliteInsert:
    """An INSERT of the session's dialect, which has ``on_conflict_do_nothing`` (PostgreSQL
    and SQLite both: one statement, no failed transaction to roll back)."""
    insert = postgresql_insert if on_postgresql(session) else sqlite_insert
    return insert(table)
