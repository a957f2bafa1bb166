"""Alembic environment: runs migrations over replyd's async engine."""

import asyncio

from alembic import context
from sqlalchemy import Connection

from replyd.store.session import create_engine
from replyd.store.tables import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _enforce_foreign_keys(connection, False)
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
            raise RuntimeError(f"The migrations left rows whose foreign keys point nowhere: {broken[:5]}")
    if sqlite:
        _enforce_foreign_keys(connection, True)


def _enforce_foreign_keys(connection: Connection, on: bool) -> None:
    """SQLite makes a table again (batch mode) by dropping the old one, and with foreign keys
    enforced that deletes every row referring to it (``ON DELETE CASCADE``): they are off
    while migrating, as SQLite's own procedure for altering a table has it, and checked before
    the migrations commit. SQLite ignores the setting inside a transaction: it is set between."""
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    connection.commit()


async def run_online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


asyncio.run(run_online())
