"""SQLite called on the event loop's own thread, behind the connection interface SQLAlchemy's
aiosqlite dialect expects.

SQLite is a library inside the process: a replyd statement takes it a few microseconds.
aiosqlite runs every call (cursor, execute, fetch, close, commit) on a worker thread and
wakes the event loop for the result, and measured in a reply that round trip cost 20 times the
SQLite work: a quarter of the process's CPU went to hand-offs (docs/performance.md). Calling
SQLite directly costs the loop those microseconds instead.

The trade: a statement that must wait for SQLite's write lock blocks the loop while it waits.
Within one process that never happens (one connection per process, see ``session.py``);
another process writing the same file (the command line, a second server) holds the lock for
the length of one short transaction. Deployments with several server processes use
PostgreSQL.

The connection is handed to SQLAlchemy through ``create_async_engine(async_creator=...)``,
its documented hook for a driver connection made by the application."""

import sqlite3
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any


class InlineCursor:
    """aiosqlite's cursor methods, each running at once on the calling thread."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, size: int) -> None:
        self._cursor.arraysize = size

    async def __aenter__(self) -> "InlineCursor":
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> "InlineCursor":
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> "InlineCursor":
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """aiosqlite's connection methods that SQLAlchemy calls, each running at once."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        """Named as aiosqlite names it: SQLAlchemy checks it before commit and rollback."""

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._connection.cursor())

    async def commit(self) -> None:
        self._connection.commit()

    async def rollback(self) -> None:
        self._connection.rollback()

    async def close(self) -> None:
        self._connection.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._connection.create_function(*args, **kwargs)

    def stop(self) -> None:
        """What SQLAlchemy calls to end a connection it gave up on."""
        self._connection.close()


def inline_connector(path: str) -> Callable[[], Coroutine[Any, Any, InlineConnection]]:
    """The ``async_creator`` for a SQLite file, connecting as SQLAlchemy's aiosqlite dialect would."""

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(path, check_same_thread=False))

    return connect
