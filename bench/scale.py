"""Reads at scale (issue 19): how each read endpoint's latency grows with an account's size.

Two accounts' worth of data, each in a fresh, migrated database (SQLite, or PostgreSQL with
``--postgres``): S, 1,000 conversations, and L, 200,000 (``--large``); each conversation holds
10 messages and 5 ledger entries (L: 2 million messages, a million entries), over 10
assistants and the last 90 days, and one conversation of 20,000 messages, in both, so that
reading it compares alike. Everything is written in bulk (multi-row INSERTs of 20,000 rows),
with the counts replyd keeps as it writes (messages per conversation, usage totals per day and
assistant), then ``replyd serve`` (one worker) starts on it and each endpoint is read
``--repeat`` times, one request at a time, after a few unmeasured ones. Prints p50 and p95 per
endpoint and size, and the L/S ratio of the p50s; timings vary with the machine's load.

Run from the repository root:  .venv/bin/python -m bench.scale [--postgres URL] [--large 200000]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.overhead.replyd_server import Deployment, fresh_database, replyd_command, replyd_env, seed
from bench.overhead.report import machine
from bench.processes import free_port, running, tell_logged_errors
from replyd.clock import utcnow
from replyd.services.assistant_config import AssistantConfig
from replyd.services.cursors import activity_cursor, history_cursor, ledger_cursor
from replyd.store.assistants import create_assistant
from replyd.store.conversations import ActivityKey
from replyd.store.session import create_engine, session_factory
from replyd.store.tables import CONVERSATIONS, LEDGER_ENTRIES, MESSAGES, USAGE_TOTALS
from tests.console.conftest import sign_in

SMALL, LARGE = 1_000, 200_000
ASSISTANTS = 10
MESSAGES_EACH, ENTRIES_EACH = 10, 5
LONG_MESSAGES = 20_000
DAYS = 90
CHUNK = 20_000
"""Rows per bulk INSERT."""
WARM_UP = 5
LIVE_STREAM = "console: a live stream's first event"
"""An open console page's stream polls the account's activity every second; its first event
is sent after one poll, so its time is what each poll costs (plus the request's own)."""
TEXT = "Hi, I would like to move my appointment on Friday to the afternoon, if that is possible."


class Timing(NamedTuple):
    p50_ms: float
    p95_ms: float
    answer_bytes: int


@dataclass(frozen=True)
class Seeded:
    token: str
    assistant_id: int
    long_id: str
    """The conversation of ``LONG_MESSAGES`` messages."""
    deep: ActivityKey
    """A place four fifths down the conversation list."""
    customer: str
    """A customer with one conversation."""
    order_number: str
    """A word of that customer's first message, and of no other."""
    oldest_entry_id: int
    oldest_message_id: int
    """Of the long conversation."""
    seconds: float
    """How long seeding took."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    parser.add_argument("--small", type=int, default=SMALL, help=f"conversations of S (default {SMALL})")
    parser.add_argument("--large", type=int, default=LARGE, help=f"conversations of L (default {LARGE})")
    parser.add_argument("--repeat", type=int, default=50, help="measured requests per endpoint (default 50)")
    parser.add_argument("--only", metavar="TEXT", default="", help="only endpoints whose name holds TEXT")
    return parser.parse_args()


def conversation_id(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def conversations_of(account_id: int, assistant_ids: list[int], count: int) -> Iterator[dict[str, Any]]:
    """The ``count`` conversations, the last the long one; one in 100 waits for a human. The
    n-th was last active n seconds after the start of the range, so the list's order is known."""
    start = utcnow() - timedelta(days=DAYS)
    for n in range(count):
        long = n == count - 1
        messages = LONG_MESSAGES if long else MESSAGES_EACH
        yield {
            "id": conversation_id(n),
            "number": n + 1,
            "account_id": account_id,
            "assistant_id": assistant_ids[n % len(assistant_ids)],
            "customer_identifier": f"+49{n:09d}",
            "type": "api",
            "variables": {},
            "ai_disabled": n % 100 == 0,
            "needs_human": n % 100 == 0,
            "message_count": messages,
            "total_cost_micros": messages // 2 * 1000,
            "created_at": start,
            "updated_at": start + timedelta(seconds=n * DAYS * 86400 // count),
        }


def order_number(n: int) -> str:
    """A word only the n-th conversation's first message holds, for a search that finds one."""
    return f"R{n}"


def messages_of(count: int) -> Iterator[dict[str, Any]]:
    now = utcnow()
    for n in range(count):
        for m in range(LONG_MESSAGES if n == count - 1 else MESSAGES_EACH):
            is_ai = m % 2 == 1
            yield {
                "conversation_number": n + 1,
                "author": "ai" if is_ai else "customer",
                "content": f"{TEXT} Order {order_number(n)}." if m == 0 else TEXT,
                "function_calls": [],
                "prompt_tokens": 400 if is_ai else 0,
                "completion_tokens": 40 if is_ai else 0,
                "cached_tokens": 0,
                "cost_micros": 1000 if is_ai else 0,
                "reply_status": None if is_ai else "answered",
                "reserved_micros": 0,
                "created_at": now,
            }


def entries_of(
    account_id: int, assistant_ids: list[int], count: int, totals: Counter[tuple[Any, ...]]
) -> Iterator[dict[str, Any]]:
    """Reply charges over the last ``DAYS`` days, oldest first, added to ``totals`` as they go."""
    start, total = utcnow() - timedelta(days=DAYS), count * ENTRIES_EACH
    for n in range(total):
        at = start + timedelta(seconds=n * DAYS * 86400 // total)
        assistant_id = assistant_ids[n % len(assistant_ids)]
        totals[(at.date(), assistant_id, "replies")] += 1
        totals[(at.date(), assistant_id, "spent")] += 1000
        yield {
            "account_id": account_id,
            "kind": "reply",
            "amount_micros": -1000,
            "assistant_id": assistant_id,
            "conversation_number": n // ENTRIES_EACH + 1,
            "message_id": None,
            "prompt_tokens": 400,
            "completion_tokens": 40,
            "created_at": at,
        }


async def insert_all(engine: AsyncEngine, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            async with engine.begin() as connection:
                await connection.execute(insert(table), chunk)
            chunk = []
    if chunk:
        async with engine.begin() as connection:
            await connection.execute(insert(table), chunk)


async def fill(database_url: str, account_token: tuple[str, int], count: int) -> Seeded:
    """The bench account (``seed``'s) gets ``ASSISTANTS`` assistants and ``count`` conversations."""
    started = time.perf_counter()
    token, first_assistant = account_token
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            account_id = (await connection.execute(text("SELECT id FROM accounts"))).scalar_one()
        async with session_factory(engine)() as session, session.begin():
            config = AssistantConfig(name="bench", model="openai:stub-model")
            more = [await create_assistant(session, account_id, config.to_columns()) for _ in range(ASSISTANTS - 1)]
        assistant_ids = [first_assistant, *(a.id for a in more)]
        await insert_all(engine, CONVERSATIONS, conversations_of(account_id, assistant_ids, count))
        await insert_all(engine, MESSAGES, messages_of(count))
        totals: Counter[tuple[Any, ...]] = Counter()
        await insert_all(engine, LEDGER_ENTRIES, entries_of(account_id, assistant_ids, count, totals))
        kept = {(day, assistant) for day, assistant, _ in totals}
        rows = (
            {
                "account_id": account_id,
                "day": day,
                "assistant_id": assistant,
                "replies": totals[(day, assistant, "replies")],
                "spent_micros": totals[(day, assistant, "spent")],
            }
            for day, assistant in sorted(kept)
        )
        await insert_all(engine, USAGE_TOTALS, rows)
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.exec_driver_sql("ANALYZE")  # as autovacuum would, soon after a load this size
            oldest_entry = (await connection.execute(text("SELECT min(id) FROM ledger_entries"))).scalar_one()
            first_message = "SELECT min(id) FROM messages WHERE conversation_number = :number"
            long_id = conversation_id(count - 1)
            oldest_message = (await connection.execute(text(first_message), {"number": count})).scalar_one()
        deep_n = count // 5
        deep = ActivityKey(
            utcnow() - timedelta(days=DAYS) + timedelta(seconds=deep_n * DAYS * 86400 // count), deep_n + 1
        )
        return Seeded(
            token,
            first_assistant,
            long_id,
            deep,
            f"+49{count // 2:09d}",
            order_number(count // 2),
            oldest_entry + 100,
            oldest_message + 200,
            time.perf_counter() - started,
        )
    finally:
        await engine.dispose()


def endpoints(seeded: Seeded) -> dict[str, tuple[str, dict[str, Any]]]:
    """What a client and an operator read, by name: (path, query)."""
    conversation = f"/api/conversations/{seeded.long_id}"
    deep = activity_cursor("next", seeded.deep)
    return {
        "usage, first page": ("/api/account/usage", {}),
        "usage, a cursor page": ("/api/account/usage", {"cursor": ledger_cursor(seeded.oldest_entry_id)}),
        "conversations, first page": ("/api/user/conversations", {}),
        "conversations, a deep page": ("/api/user/conversations", {"cursor": deep}),
        "conversations of an assistant, deep": (
            "/api/user/conversations",
            {"assistant_id": seeded.assistant_id, "cursor": deep},
        ),
        "conversations of a customer": ("/api/user/conversations", {"external_identifier": seeded.customer}),
        "conversations needing a human": ("/api/user/conversations", {"needs_human": "true"}),
        "search: a word of every conversation": ("/api/user/conversations", {"q": "afternoon"}),
        "search: a word of one conversation": ("/api/user/conversations", {"q": seeded.order_number}),
        "search: part of a customer identifier": ("/api/user/conversations", {"q": seeded.customer[-6:]}),
        "search: two letters found nowhere": ("/api/user/conversations", {"q": "zq"}),
        "the long conversation": (conversation, {}),
        "its oldest messages": (f"{conversation}/messages", {"cursor": history_cursor(seeded.oldest_message_id)}),
        "console: conversation list": ("/console/conversations", {}),
        "console: the long conversation": (f"/console/conversations/{seeded.long_id}", {}),
        "console: usage": ("/console/usage", {}),
        LIVE_STREAM: ("/console/events", {}),
    }


async def read(client: httpx.AsyncClient, name: str, path: str, query: dict[str, Any]) -> tuple[int, bytes]:
    """The endpoint's status and answer; of the live stream, which runs on, what it sends up to
    its first event (one poll of the account's activity)."""
    if name != LIVE_STREAM:
        answer = await client.get(path, params=query)
        return answer.status_code, answer.content
    body = b""
    async with client.stream("GET", path, params=query) as stream:
        async for chunk in stream.aiter_bytes():
            body += chunk
            if b"event: hello" in body and body.endswith(b"\n\n"):
                break
    return stream.status_code, body


async def measure(served: dict[str, tuple[str, Seeded]], repeat: int, only: str) -> dict[str, dict[str, Timing]]:
    """Each endpoint's timings per size, the sizes' requests taking turns (S then L, L then S),
    so that a change in the machine's load weighs on both alike."""
    clients = {}
    async with AsyncExitStack() as stack:
        for label, (base_url, seeded) in served.items():
            headers = {"Authorization": f"Bearer {seeded.token}"}
            clients[label] = await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120)
            )
            assert (await sign_in(clients[label], seeded.token)).status_code == 303
        paths = {label: endpoints(seeded) for label, (_, seeded) in served.items()}
        found: dict[str, dict[str, Timing]] = {label: {} for label in served}
        for name in (name for name in paths["S"] if only in name):
            times: dict[str, list[float]] = {label: [] for label in served}
            sizes = dict.fromkeys(served, 0)
            for n in range(WARM_UP + repeat):
                for label in list(served)[:: 1 if n % 2 else -1]:
                    path, query = paths[label][name]
                    started = time.perf_counter()
                    status, answer = await read(clients[label], name, path, query)
                    if n >= WARM_UP:
                        times[label].append((time.perf_counter() - started) * 1000)
                    assert status == 200, (label, name, status, answer[:300])
                    sizes[label] = len(answer)
            for label in served:
                found[label][name] = Timing(
                    statistics.median(times[label]), statistics.quantiles(times[label], n=20)[18], sizes[label]
                )
    return found


async def database_bytes(database_url: str, work: Path) -> int:
    engine = create_engine(database_url)
    try:
        if engine.dialect.name != "postgresql":
            return sum(path.stat().st_size for path in work.glob("replyd.db*"))
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT pg_database_size(current_database())"))).scalar_one())
    finally:
        await engine.dispose()


def run(
    deployment: Deployment, counts: dict[str, int], repeat: int, only: str, work: Path
) -> dict[str, dict[str, Timing]]:
    """Seed each size's database, serve each, and time them side by side."""
    with ExitStack() as stack:
        served = {}
        for label, count in counts.items():
            (work / label).mkdir()
            database_url = stack.enter_context(fresh_database(work / label, deployment.postgres_url))
            seeded = asyncio.run(fill(database_url, seed(database_url), count))
            size = asyncio.run(database_bytes(database_url, work / label))
            print(f"{label}: {count} conversations seeded in {seeded.seconds:.0f} s; database {size / 2**20:.0f} MiB")
            port = free_port()
            log = work / label / "replyd.log"
            env = replyd_env(database_url)
            stack.enter_context(running("replyd serve", replyd_command(port), port, log, cwd=work / label, env=env))
            served[label] = (f"http://127.0.0.1:{port}", seeded)
        return asyncio.run(measure(served, repeat, only))


def table(small: dict[str, Timing], large: dict[str, Timing]) -> str:
    lines = [
        "| endpoint | S p50 ms | S p95 ms | L p50 ms | L p95 ms | L/S (p50) | L answer KB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (s50, s95, _) in small.items():
        l50, l95, size = large[name]
        lines.append(
            f"| {name} | {s50:.1f} | {s95:.1f} | {l50:.1f} | {l95:.1f} | {l50 / s50:.2f} | {size / 1024:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    deployment = Deployment(args.postgres)
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-scale-"))
    found = run(deployment, {"S": args.small, "L": args.large}, args.repeat, args.only, work)
    tools = f"httpx, one request at a time, {args.repeat} per endpoint and size, S and L taking turns"
    print(f"\n{machine(deployment, tools)}\n")
    print(table(found["S"], found["L"]))
    tell_logged_errors(work)


if __name__ == "__main__":
    main()
