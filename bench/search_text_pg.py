"""What the trigram index of identifiers and variables (migration 0026) adds to PostgreSQL's
writes of a conversation: the database's own execution time (``EXPLAIN ANALYZE``, triggers
included, no client or network in it) of the reply path's update of a conversation's activity,
of a new customer's conversation and of a change of its variables, in a database at 0024 and one
at head, each holding ``--history`` conversations. The two take turns; prints the medians.

Run from the repository root:
    .venv/bin/python -m bench.search_text_pg postgresql://postgres@127.0.0.1:5432/test [--writes 600]
"""

import argparse
import asyncio
import json
import statistics
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from bench.overhead.replyd_server import seed
from replyd.store.migrate import upgrade_database

WRITES = {
    "activity (every reply)": "UPDATE conversations SET updated_at = now(), channel_id = NULL WHERE id = $1",
    "variables changed": "UPDATE conversations SET variables = $2, updated_at = now() WHERE id = $1",
    "new conversation": (
        "INSERT INTO conversations (id, account_id, assistant_id, customer_identifier, type, variables, ai_disabled,"
        " created_at, updated_at) SELECT $1, account_id, id, $2, 'api', $3, false, now(), now() FROM assistants"
    ),
}
INSERT = WRITES["new conversation"]
NAME = "replyd_bench_search_text_{revision}"


async def database(server: str, revision: str, history: int) -> asyncpg.Connection:
    """A fresh database migrated to ``revision``, with one assistant and ``history`` conversations."""
    name = NAME.format(revision=revision)
    admin = await asyncpg.connect(server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade_database, url, revision)
    await asyncio.to_thread(seed, url)
    connection = await asyncpg.connect(url)
    await connection.executemany(INSERT, [(str(uuid.UUID(int=n)), f"+49{n:09d}", variables(n)) for n in range(history)])
    await connection.execute("ANALYZE")
    return connection


def variables(n: int) -> str:
    return json.dumps({"order_number": f"A-{n}", "plan": "gold"})


async def execution_ms(connection: asyncpg.Connection, write: str, n: int) -> float:
    arguments = {
        "activity (every reply)": (str(uuid.UUID(int=n)),),
        "variables changed": (str(uuid.UUID(int=n)), json.dumps({"order_number": f"B-{n}-{uuid.uuid4().hex[:6]}"})),
        "new conversation": (str(uuid.uuid4()), f"+31{uuid.uuid4().int % 10**9:09d}", variables(n)),
    }[write]
    plan = await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {WRITES[write]}", *arguments)
    return float(json.loads(plan)[0]["Execution Time"])


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search_text_pg", description=__doc__.split("\n\n")[0])
    parser.add_argument("server", help="a PostgreSQL server's URL (two databases are made on it, then dropped)")
    parser.add_argument("--writes", type=int, default=600, help="writes of each kind per database")
    parser.add_argument("--history", type=int, default=20_000)
    args = parser.parse_args()
    server = make_url(args.server).set(drivername="postgresql").render_as_string(hide_password=False)
    connections = {revision: await database(server, revision, args.history) for revision in ("0024", "head")}
    times: dict[tuple[str, str], list[float]] = {(r, w): [] for r in connections for w in WRITES}
    for n in range(args.writes):
        for revision in list(connections)[:: 1 if n % 2 else -1]:
            for write in WRITES:
                times[(revision, write)].append(await execution_ms(connections[revision], write, n % args.history))
    for write in WRITES:
        before, after = (statistics.median(times[(r, write)]) for r in connections)
        print(f"{write}: {before:.3f} ms at 0024, {after:.3f} ms at head, {after - before:+.3f} ms")
    admin = await asyncpg.connect(server)
    for revision, connection in connections.items():
        await connection.close()
        await admin.execute(f'DROP DATABASE "{NAME.format(revision=revision)}"')
    await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
