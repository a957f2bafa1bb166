"""replyd's own overhead per reply: replies/s and p50/p99 latency of ``POST /api/ai/generate-reply``
at 1, 16 and 64 concurrent customers, against a model that answers at once.

Three processes on loopback, so that no two share a GIL: this one (the load generator),
``replyd serve`` on a fresh, migrated SQLite file, and the stub OpenAI-compatible model of
``tests/servers.py``. The stub is also measured alone, at the same concurrency, so the
table shows how much of a reply's latency is replyd's. Every customer sends its messages
one after another (a closed loop, no think time) into its own conversation.

Run from the repository root:  .venv/bin/python -m bench.overhead
(``--only 64`` for one level; ``--profile stacks.txt`` to sample replyd with py-spy meanwhile).
"""

import argparse
import asyncio
import math
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.processes import cpu_model, cpu_s, free_port, memory_gib, profiling, running
from replyd.engine.assistant_config import AssistantConfig
from replyd.store import accounts
from replyd.store.assistants import create_assistant
from replyd.store.migrate import upgrade_database
from replyd.store.session import create_engine, display_url, session_factory

REPO = Path(__file__).resolve().parents[1]
LEVELS = ((1, 200), (16, 960), (64, 1920))
"""(concurrent customers, measured requests); the requests are split evenly among the customers."""
WARMUP_PER_CUSTOMER = 3
"""Unmeasured messages each customer sends first: opens connections, creates its conversation."""
POSITION_BLOCK = 50
"""Latency is also shown per block of this many measured messages of a customer: history grows."""
TARGET_P99_OVERHEAD_MS = 20.0
REQUEST_TIMEOUT_S = 30.0
LEVEL_DEADLINE_S = 300.0

STUB_SERVER = """
import sys, uvicorn
from tests.servers import StubModel
uvicorn.run(StubModel().app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

Send = Callable[[httpx.AsyncClient, int, int], Awaitable[int]]
"""``send(client, customer, n)``: the ``n``-th request of customer number ``customer``; returns the status."""


@dataclass(frozen=True)
class Stats:
    requests: int
    failed: dict[str, int]
    """HTTP status or transport error -> how many measured requests ended so instead of 200."""
    per_s: float
    p50_ms: float
    p99_ms: float
    by_position: list[tuple[int, int, float]]
    """(first n, last n, p50 ms) of the successful requests, in blocks of ``POSITION_BLOCK`` messages."""
    cpu_ms: float | None
    """CPU time (all threads) the server process spent per measured request, if /proc tells."""


@dataclass(frozen=True)
class Row:
    concurrency: int
    replyd: Stats
    stub: Stats

    @property
    def overhead_p50_ms(self) -> float:
        return self.replyd.p50_ms - self.stub.p50_ms

    @property
    def overhead_p99_ms(self) -> float:
        return self.replyd.p99_ms - self.stub.p99_ms


@dataclass(frozen=True)
class Target:
    """A server to measure: its base URL and its process, whose CPU time is read."""

    url: str
    pid: int


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of the values at or below it."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def seed(database_url: str) -> tuple[str, int]:
    """One account with a big balance, a token with a limit the benchmark never reaches, and
    an assistant on the stub model; returns the token and the assistant's id."""

    async def work() -> tuple[str, int]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                account = await accounts.create_account(session, "bench", 1_000_000 * 1_000_000)
                token = await accounts.create_token(session, account.id, "1000000/minute")
                config = AssistantConfig(name="bench", model="openai:stub-model")
                assistant = await create_assistant(session, account.id, config.to_columns())
                return token.secret, assistant.id
        finally:
            await engine.dispose()

    return asyncio.run(work())


@dataclass(frozen=True)
class Deployment:
    """SQLite and one process by default; ``--postgres``, ``--redis`` and ``--workers`` scale it out."""

    postgres_url: str | None = None
    redis_url: str | None = None
    workers: int = 1

    def describe(self) -> str:
        storage = "PostgreSQL" if self.postgres_url else "SQLite"
        shared = " + Redis" if self.redis_url else ""
        return f"{self.workers} replyd worker process(es), {storage}{shared}"


def replyd_env(database_url: str, stub_url: str, redis_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLYD_", "OPENAI_"))}
    if redis_url:
        env |= {"REPLYD_REDIS_URL": redis_url, "REPLYD_REDIS_KEY_PREFIX": f"replyd-bench-{os.getpid()}"}
    return env | {
        "REPLYD_DATABASE_URL": database_url,
        "REPLYD_OPENAI_BASE_URL": stub_url,
        "REPLYD_OPENAI_API_KEY": "x",
        "REPLYD_RATE_LIMIT": "1000000/minute",
    }


def replyd_command(port: int, workers: int = 1) -> list[str]:
    return [str(Path(sys.executable).with_name("replyd")), "serve", "--port", str(port), "--workers", str(workers)]


@contextmanager
def fresh_database(work: Path, postgres_url: str | None) -> Iterator[str]:
    """A migrated database for one run: a SQLite file in ``work``, or a PostgreSQL database
    made on the server at ``postgres_url`` and dropped afterwards."""
    if not postgres_url:
        url = f"sqlite:///{work / 'replyd.db'}"
        upgrade_database(url)
        yield url
        return
    name = f"replyd_bench_{os.getpid()}"
    server = make_url(postgres_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(_postgres(admin, f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(url)
        yield url
    finally:
        asyncio.run(_postgres(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def replyd_errors(log_path: Path) -> Counter[str]:
    """The exceptions replyd logged, by their last traceback line."""
    return Counter(
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if line[:1].isalpha() and ("Error:" in line or "Exception:" in line)
    )


def reply_sender(token: str, assistant_id: int, tag: str) -> Send:
    async def send(client: httpx.AsyncClient, customer: int, n: int) -> int:
        response = await client.post(
            "/api/ai/generate-reply",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "assistant_id": assistant_id,
                "customer_identifier": f"bench-{tag}-{customer}",
                "message": f"Hello, this is message {n}. When do you open tomorrow?",
            },
        )
        return response.status_code

    return send


async def stub_send(client: httpx.AsyncClient, customer: int, n: int) -> int:
    """What replyd sends the model for a fresh conversation, straight to the stub."""
    response = await client.post(
        "/chat/completions",
        json={
            "model": "stub-model",
            "messages": [
                {"role": "system", "content": "You are a friendly customer service assistant. Answer briefly."},
                {"role": "user", "content": f"Hello, this is message {n}. When do you open tomorrow?"},
            ],
            "temperature": 0.7,
            "max_tokens": 256,
        },
    )
    return response.status_code


async def closed_loop(
    base_url: str, send: Send, concurrency: int, requests: int, server_pid: int, think_s: float = 0.0
) -> Stats:
    """``concurrency`` customers, each sending its share of ``requests`` one after another,
    pausing a random think time (exponential, mean ``think_s``) between messages when asked.

    Each customer has its own client and keep-alive connection: one client with a pool of 64
    connections costs httpx milliseconds of CPU per request (encode/httpx#3215), which this
    process would then report as replyd's latency."""
    per_customer = requests // concurrency
    samples: list[tuple[int, float]] = []
    failed: Counter[str] = Counter()

    async def customer(number: int, client: httpx.AsyncClient, first: int, count: int, is_measured: bool) -> None:
        for n in range(first, first + count):
            started = time.perf_counter()
            try:
                outcome: int | str = await send(client, number, n)
            except httpx.TransportError as exc:
                outcome = type(exc).__name__
            latency = time.perf_counter() - started
            if think_s:
                await asyncio.sleep(random.expovariate(1 / think_s))
            if not is_measured:
                continue
            if outcome == 200:
                samples.append((n - first, latency))
            else:
                failed[str(outcome)] += 1

    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S))
            for _ in range(concurrency)
        ]

        async def everyone(first: int, count: int, is_measured: bool) -> None:
            await asyncio.gather(*(customer(c, clients[c], first, count, is_measured) for c in range(concurrency)))

        await asyncio.wait_for(everyone(0, WARMUP_PER_CUSTOMER, is_measured=False), LEVEL_DEADLINE_S)
        started, cpu_started = time.perf_counter(), cpu_s(server_pid)
        await asyncio.wait_for(everyone(WARMUP_PER_CUSTOMER, per_customer, is_measured=True), LEVEL_DEADLINE_S)
        elapsed, cpu_used = time.perf_counter() - started, cpu_s(server_pid) - cpu_started
    if not samples:
        raise SystemExit(f"every request to {base_url} failed: {dict(failed)}")
    latencies = sorted(latency for _, latency in samples)
    count = len(samples) + sum(failed.values())
    return Stats(
        count,
        dict(failed),
        len(samples) / elapsed,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        by_position(samples),
        cpu_used / count * 1000 if not math.isnan(cpu_used) else None,
    )


def by_position(samples: list[tuple[int, float]]) -> list[tuple[int, int, float]]:
    blocks: dict[int, list[float]] = {}
    for n, latency in samples:
        blocks.setdefault(n // POSITION_BLOCK, []).append(latency)
    return [
        (block * POSITION_BLOCK + 1, (block + 1) * POSITION_BLOCK, percentile(sorted(values), 0.5) * 1000)
        for block, values in sorted(blocks.items())
    ]


def table(rows: list[Row]) -> str:
    header = (
        "| customers | requests | failed | replies/s | p50 ms | p99 ms | replyd CPU ms/reply "
        "| stub alone req/s | stub alone p50 ms | stub alone p99 ms | overhead p50 ms | overhead p99 ms |"
    )
    lines = [header, "|" + "---:|" * (header.count("|") - 1)]
    for row in rows:
        failed = ", ".join(f"{n}x{status}" for status, n in sorted(row.replyd.failed.items())) or "0"
        lines.append(
            f"| {row.concurrency} | {row.replyd.requests} | {failed} | {row.replyd.per_s:.0f} "
            f"| {row.replyd.p50_ms:.1f} | {row.replyd.p99_ms:.1f} | {ms(row.replyd.cpu_ms)} "
            f"| {row.stub.per_s:.0f} | {row.stub.p50_ms:.1f} | {row.stub.p99_ms:.1f} "
            f"| {row.overhead_p50_ms:.1f} | {row.overhead_p99_ms:.1f} |"
        )
    return "\n".join(lines)


def ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def position_table(rows: list[Row]) -> str:
    """p50 through replyd by how far into its conversation a customer's message is."""
    lines = ["| customers | measured messages of each customer | p50 ms |", "|---:|---:|---:|"]
    for row in rows:
        lines += [f"| {row.concurrency} | {first}-{last} | {p50:.1f} |" for first, last, p50 in row.replyd.by_position]
    return "\n".join(lines)


async def measure(
    replyd: Target, stub: Target, token: str, assistant_id: int, levels: list[tuple[int, int]], think_s: float
) -> list[Row]:
    rows = []
    for concurrency, requests in levels:
        print(f"  {concurrency} customers: {requests} replies through replyd ...", file=sys.stderr)
        send = reply_sender(token, assistant_id, f"c{concurrency}")
        via_replyd = await closed_loop(replyd.url, send, concurrency, requests, replyd.pid, think_s)
        print(f"  {concurrency} customers: {requests} calls straight to the stub ...", file=sys.stderr)
        stub_alone = await closed_loop(stub.url, stub_send, concurrency, requests, stub.pid, think_s)
        rows.append(Row(concurrency, via_replyd, stub_alone))
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="sample replyd with `py-spy record` (pip install py-spy) and write its collapsed stacks to FILE",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause of each customer between its messages (exponential); default 0: a closed loop at full speed",
    )
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    parser.add_argument("--redis", metavar="URL", help="a Redis server for shared limits and locks")
    parser.add_argument("--workers", type=int, default=1, help="replyd worker processes (default 1)")
    parser.add_argument(
        "--only",
        type=int,
        metavar="CUSTOMERS",
        action="append",
        help="measure only this concurrency level (repeatable); default: all of 1, 16, 64",
    )
    return parser.parse_args()


def run(
    levels: list[tuple[int, int]], work: Path, profile: Path | None, think_s: float, deployment: Deployment
) -> list[Row]:
    with fresh_database(work, deployment.postgres_url) as database_url:
        return run_on(database_url, levels, work, profile, think_s, deployment)


def run_on(
    database_url: str,
    levels: list[tuple[int, int]],
    work: Path,
    profile: Path | None,
    think_s: float,
    deployment: Deployment,
) -> list[Row]:
    """Seed the database, start the stub and replyd, measure every level."""
    token, assistant_id = seed(database_url)
    stub_port, replyd_port = free_port(), free_port()
    stub_url = f"http://127.0.0.1:{stub_port}/v1"
    stub_command = [sys.executable, "-c", STUB_SERVER, str(stub_port)]
    with (
        running("the stub model", stub_command, stub_port, work / "stub.log", cwd=REPO) as stub,
        running(
            "replyd serve",
            replyd_command(replyd_port, deployment.workers),
            replyd_port,
            work / "replyd.log",
            cwd=work,
            env=replyd_env(database_url, stub_url, deployment.redis_url),
        ) as replyd,
        profiling(replyd.pid, profile),
    ):
        where = display_url(database_url)
        print(f"replyd on :{replyd_port}, stub model on :{stub_port}, database {where}", file=sys.stderr)
        return asyncio.run(
            measure(
                Target(f"http://127.0.0.1:{replyd_port}", replyd.pid),
                Target(stub_url, stub.pid),
                token,
                assistant_id,
                levels,
                think_s,
            )
        )


def report(rows: list[Row], deployment: Deployment) -> None:
    print(
        f"\n{date.today()}, {os.cpu_count()} cores ({cpu_model()}), {memory_gib()}, "
        f"Python {platform.python_version()}, {deployment.describe()}\n"
    )
    if deployment.workers > 1:
        print("(replyd CPU ms/reply counts the main process only: not meaningful with several workers)\n")
    print(table(rows))
    print("\nLatency through replyd by position in the conversation (history grows by two messages a reply):\n")
    print(position_table(rows))
    at_64 = next((row for row in rows if row.concurrency == 64), None)
    if at_64 is not None:
        verdict = "met" if at_64.overhead_p99_ms < TARGET_P99_OVERHEAD_MS and not at_64.replyd.failed else "NOT met"
        print(
            f"\nTarget p99 overhead < {TARGET_P99_OVERHEAD_MS:.0f} ms at 64 customers: {verdict} "
            f"({at_64.overhead_p99_ms:.1f} ms)"
        )


def main() -> None:
    args = parse_args()
    levels = [level for level in LEVELS if not args.only or level[0] in args.only]
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-"))
    is_kept = True
    try:
        deployment = Deployment(args.postgres, args.redis, args.workers)
        rows = run(levels, work, args.profile, args.think_ms / 1000, deployment)
        logged_errors = replyd_errors(work / "replyd.log")
        is_kept = bool(logged_errors)
    finally:
        if is_kept:
            print(f"\nreplyd's log and database are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work)
    report(rows, deployment)
    for line, count in logged_errors.most_common():
        print(f"replyd logged {count}x: {line}")
    if args.profile:
        print(f"\npy-spy stacks of the replyd process: {args.profile}", file=sys.stderr)


if __name__ == "__main__":
    main()
