"""Event delivery: how many events a second one ``replyd serve`` process delivers to a fast
receiver on loopback, and how soon the first arrives.

For each spread of conversations: a fresh, migrated database (SQLite, or PostgreSQL with
``--postgres``) with one account whose one endpoint is tests/servers.py's EventReceiver, run in
this process (it verifies every delivery with the standardwebhooks library and answers 200 at
once); ``replyd serve`` started on it; then a burst of events written straight into the outbox
in one transaction, as the API writes them (``message.created``, round robin over the
conversations), and the clock runs from its commit until the receiver has them all. A
conversation's events go out one after another, so one conversation is the slowest case.

Run from the repository root:  .venv/bin/python -m bench.events
(``--events 2000 --conversations 1 --conversations 100`` to choose; ``--postgres URL`` for PostgreSQL;
``--events 1 --conversations 1 --repeat 10`` for how soon one event goes out).
"""

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.overhead.replyd_server import Deployment, fresh_database, replyd_command, replyd_env
from bench.overhead.report import machine
from bench.processes import free_port, running, tell_logged_errors, tree_cpu_s
from replyd.clock import utcnow
from replyd.events.types import MESSAGE_CREATED, new_event_id
from replyd.functions.signing import new_webhook_secret
from replyd.store import accounts, events
from replyd.store.session import create_engine, session_factory
from tests.servers import EventReceiver, serve_in_thread

DEFAULT_EVENTS = 2000
DEFAULT_CONVERSATIONS = [1, 10, 100]
GIVE_UP_S = 600.0
MESSAGE = "Hi, I am Anna from the shop. Your parcel left our warehouse this morning; it should be with you on Friday."


@dataclass(frozen=True)
class Row:
    conversations: int
    events: int
    first_s: float
    """From the burst's commit to the first event's arrival."""
    all_s: float
    """From the burst's commit to the last event's arrival (or giving up)."""
    cpu_s: float
    """replyd's CPU meanwhile."""
    arrived: int
    duplicates: int
    unverified: int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help=f"events a burst (default {DEFAULT_EVENTS})")
    parser.add_argument(
        "--conversations",
        type=int,
        action="append",
        metavar="N",
        help=f"spread a burst over N conversations (repeatable; default {', '.join(map(str, DEFAULT_CONVERSATIONS))})",
    )
    parser.add_argument("--repeat", type=int, default=1, help="measure each spread this many times (default 1)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    return parser.parse_args()


async def seed(database_url: str, receiver_url: str) -> tuple[int, str]:
    """An account and its endpoint on the receiver; the account's id and the endpoint's secret."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            account = await accounts.create_account(session, "bench", 0, new_webhook_secret())
            secret = new_webhook_secret()
            await events.create_endpoint(session, account.id, receiver_url, [], secret)
            return account.id, secret
    finally:
        await engine.dispose()


async def burst(database_url: str, account_id: int, count: int, conversations: int) -> float:
    """Write ``count`` events over ``conversations`` conversations in one transaction; when it committed."""
    chats = [str(uuid.uuid4()) for _ in range(conversations)]
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for n in range(count):
                chat = chats[n % conversations]
                data = payload(chat, n)
                row = events.event_row(account_id, MESSAGE_CREATED, data, new_event_id(), chat)
                await events.record_events(session, [row])
        return time.perf_counter()
    finally:
        await engine.dispose()


def payload(chat: str, n: int) -> dict[str, Any]:
    """What a human agent's message.created carries."""
    conversation = {"id": chat, "assistant_id": 1, "customer_identifier": "+4915550001", "type": "api"}
    message = {"id": n, "role": "assistant", "author": "agent", "content": MESSAGE, "created_at": utcnow().isoformat()}
    return {"conversation": conversation | {"ai_enabled": False, "variables": {}}, "message": message}


def wait_for(receiver: EventReceiver, count: int, since: float) -> tuple[float, float]:
    """Seconds from ``since`` until the first and until the ``count``-th delivery arrived."""
    first = None
    while len(receiver.received) < count and time.perf_counter() - since < GIVE_UP_S:
        if first is None and receiver.received:
            first = time.perf_counter() - since
        time.sleep(0.002)
    done = time.perf_counter() - since
    return (done if first is None else first), done


def measure(deployment: Deployment, count: int, conversations: int, work: Path) -> Row:
    """One burst, on a fresh database and a fresh ``replyd serve`` (its log and SQLite file in ``work``)."""
    receiver = EventReceiver()
    with fresh_database(work, deployment.postgres_url) as database_url, serve_in_thread(receiver.app()) as url:
        account_id, receiver.secret = asyncio.run(seed(database_url, f"{url}/events"))
        port = free_port()
        env = replyd_env(database_url)
        with running("replyd serve", replyd_command(port), port, work / "replyd.log", cwd=work, env=env) as replyd:
            time.sleep(random.uniform(0, 1))  # a burst comes at any point of the loop's idle polling
            cpu_before = tree_cpu_s(replyd.pid)
            committed = asyncio.run(burst(database_url, account_id, count, conversations))
            first_s, all_s = wait_for(receiver, count, committed)
            cpu_s = tree_cpu_s(replyd.pid) - cpu_before
    ids = Counter(headers["webhook-id"] for headers, _ in receiver.received)
    duplicates = sum(ids.values()) - len(ids)
    return Row(conversations, count, first_s, all_s, cpu_s, len(ids), duplicates, receiver.unverified)


def table(rows: list[Row]) -> str:
    lines = [
        "| conversations | events | first after ms | all after s | events/s | replyd CPU ms/event | missing "
        "| duplicates | unverified |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.conversations} | {row.events} | {row.first_s * 1000:.0f} | {row.all_s:.1f} "
            f"| {row.arrived / row.all_s:.0f} | {row.cpu_s * 1000 / max(row.arrived, 1):.2f} "
            f"| {row.events - row.arrived} | {row.duplicates} | {row.unverified} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    deployment = Deployment(args.postgres)
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-events-"))
    rows = []
    for conversations in args.conversations or DEFAULT_CONVERSATIONS:
        for n in range(args.repeat):
            (work / f"{conversations}-{n}").mkdir()
            rows.append(measure(deployment, args.events, conversations, work / f"{conversations}-{n}"))
    print(f"\n{machine(deployment, 'the receiver in the benchmark process (uvicorn, standardwebhooks)')}\n")
    print(table(rows))
    tell_logged_errors(work, any(row.arrived < row.events or row.duplicates or row.unverified for row in rows))


if __name__ == "__main__":
    main()
