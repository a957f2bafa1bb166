"""The database's size at L (issue 19): what an account of 200,000 conversations takes on disk
now that Idempotency-Key answers expire, against the same data with them kept for ever.

``bench.scale``'s L is seeded (200,000 conversations, 2 million messages, a million reply
charges over 90 days, one conversation of 20,000 messages), and with it an Idempotency-Key for
each charged reply, as a client that sends one with every request leaves them: its stored
answer (the reply and the customer's identifier) and the conversation it was given in. First
only the last 24 hours' keys are written (what a server holds once keys expire) and the
database measured; then the older keys too (what it held when they never expired) and it is
measured again. SQLite's sizes per table and index come from ``dbstat``, PostgreSQL's from
``pg_table_size`` (with its TOAST) and ``pg_relation_size``.

Run from the repository root:  .venv/bin/python -m bench.size [--postgres URL] [--large 200000]
"""

import argparse
import asyncio
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.overhead.replyd_server import fresh_database, seed
from bench.scale import DAYS, ENTRIES_EACH, LARGE, TEXT, conversation_id, fill, insert_all
from replyd.clock import utcnow
from replyd.engine.reply import ReplyResult
from replyd.store.session import create_engine
from replyd.store.tables import IDEMPOTENCY_KEYS

TABLE_SIZES = {
    "sqlite": "SELECT name, sum(pgsize) FROM dbstat GROUP BY name",
    "postgresql": "SELECT relname, CASE relkind WHEN 'r' THEN pg_table_size(oid) ELSE pg_relation_size(oid) END"
    " FROM pg_class WHERE relkind IN ('r', 'i') AND relnamespace = 'public'::regnamespace",
}
"""Bytes per table and per index, apart."""
TOTAL = {
    "sqlite": "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    "postgresql": "SELECT pg_database_size(current_database())",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.size", description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    parser.add_argument("--large", type=int, default=LARGE, help=f"conversations (default {LARGE})")
    return parser.parse_args()


def keys_of(account_id: int, count: int, newer: bool, day_ago: datetime) -> Iterator[dict[str, Any]]:
    """A key per charged reply, spread over the last ``DAYS`` days as the charges are: those of
    the last 24 hours if ``newer``, else the older ones."""
    start, total = utcnow() - timedelta(days=DAYS), count * ENTRIES_EACH
    for n in range(total):
        at = start + timedelta(seconds=n * DAYS * 86400 // total)
        if (at >= day_ago) != newer:
            continue
        conversation = conversation_id(n // ENTRIES_EACH)
        answer = ReplyResult(conversation, f"+49{n // ENTRIES_EACH:09d}", TEXT, False)
        yield {
            "account_id": account_id,
            "key": f"order-{n:09d}-attempt",
            "request_sha256": f"{n:064x}",
            "status_code": 200,
            "response": asdict(answer),
            "conversation_id": conversation,
            "created_at": at,
        }


async def sizes(database_url: str) -> tuple[int, dict[str, int]]:
    """The database's bytes, and each table's and index's."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            total = (await connection.execute(text(TOTAL[engine.dialect.name]))).scalar_one()
            rows = (await connection.execute(text(TABLE_SIZES[engine.dialect.name]))).all()
        return int(total), {name: int(size) for name, size in rows}
    finally:
        await engine.dispose()


async def add_keys(database_url: str, count: int, newer: bool, day_ago: datetime) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            account_id = (await connection.execute(text("SELECT id FROM accounts"))).scalar_one()
        await insert_all(engine, IDEMPOTENCY_KEYS, keys_of(account_id, count, newer, day_ago))
        if engine.dialect.name == "postgresql":
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would, soon after
    finally:
        await engine.dispose()


def report(label: str, total: int, tables: dict[str, int]) -> None:
    print(f"\n{label}: {total / 2**20:,.0f} MiB")
    for name, size in sorted(tables.items(), key=lambda item: -item[1]):
        if size >= 2**20:
            print(f"  {name:40} {size / 2**20:8,.1f} MiB")


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-size-"))
    day_ago = utcnow() - timedelta(days=1)
    with fresh_database(work, args.postgres) as database_url:
        seeded = asyncio.run(fill(database_url, seed(database_url), args.large))
        print(f"{args.large} conversations seeded in {seeded.seconds:.0f} s")
        asyncio.run(add_keys(database_url, args.large, True, day_ago))
        expiring = asyncio.run(sizes(database_url))
        report("keys of the last 24 hours (they expire)", *expiring)
        asyncio.run(add_keys(database_url, args.large, False, day_ago))
        kept = asyncio.run(sizes(database_url))
        report("every key kept (they never expired)", *kept)
        print(f"\nexpiring / kept: {expiring[0] / kept[0]:.0%}")


if __name__ == "__main__":
    main()
