"""Instructions an event costs replyd, written and delivered, counted by valgrind's callgrind
(issue 14): the two parts of what one event endpoint adds to a reply, each alone, and each
counted steadily enough to compare two versions of the code (runs of one version agree within
about 1%), where CPU time on this shared machine does not.

write: transactions that each store a message in a conversation as a reply does
(``store.conversations.add_message``) and, in every other leg, the ``message.created`` a reply
writes with it (its ``told``), with ``--stored`` events already in the outbox; an event's count
is the difference between the legs.

deliver: ``--events`` events of one conversation written into the outbox at once, then sent by
the delivery loop of ``replyd serve`` (``EventDelivery``, run here) to a receiver answering 204
in another process. Each round holds at most 100 events, about what a round holds at full
speed; under callgrind, where Python runs some 50 times slower, rounds come every 10 s instead
of 0.25 s, long enough for a round's sends to end before the next round starts, whatever the
machine's load (else the count would hold a varying number of rounds that find nothing to do).

Each part runs in a process of its own under callgrind, which counts only while it measures,
on uvloop, the event loop ``replyd serve`` runs on (uvicorn's).

Run from the repository root:  .venv/bin/python -m bench.event_instructions
(``--part write`` or ``--part deliver`` for one, ``--repeat 2``, ``--postgres URL`` to count on
PostgreSQL: replyd's instructions alone, not the server's; a few minutes a part). To compare two
versions, run each from its own checkout (``git worktree``, ``PYTHONPATH`` set to it) side by side.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import func, select

from bench.events import payload, seed
from bench.instructions import Callgrind
from bench.overhead.peers import RECEIVER_SERVER
from bench.overhead.replyd_server import Deployment, fresh_database
from bench.overhead.report import machine
from bench.processes import free_port, running
from replyd.clock import utcnow
from replyd.events.outbox import Subscriptions, message_events
from replyd.events.types import MESSAGE_CREATED, new_event_id
from replyd.services import Services
from replyd.services.assistant_config import AssistantConfig
from replyd.settings import Settings
from replyd.store import conversations, events
from replyd.store.assistants import create_assistant
from replyd.store.session import create_engine, session_factory
from replyd.telemetry import Telemetry

PARTS = ("write", "deliver")
ROUND_S = 10.0
WARM_UP = 100
"""Events delivered before the count starts."""
TEXT = "Hi, I am Anna from the shop. Your parcel left our warehouse this morning; it should be with you on Friday."


@dataclass
class Conversation:
    """What ``message.created`` tells of a conversation (``outbox.ConversationFacts``)."""

    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    assistant_id: int = 1
    customer_identifier: str | None = "+4915550001"
    type: str = "api"
    ai_disabled: bool = False
    variables: dict[str, Any] = field(default_factory=dict)
    channel_id: int | None = None


@dataclass
class Message:
    id: int
    role: str
    author: str
    content: str
    created_at: datetime


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.event_instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=PARTS, action="append", help="write or deliver (repeatable; default both)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each part (default 1)")
    parser.add_argument("--events", type=int, default=1000, help="events delivered (default 1000)")
    parser.add_argument("--writes", type=int, default=500, help="transactions a write leg (default 500)")
    parser.add_argument("--stored", type=int, default=20000, help="events in the outbox before writing (default 20000)")
    parser.add_argument("--postgres", metavar="URL", help="count on a PostgreSQL server (a fresh database is made)")
    parser.add_argument("--child", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--receiver", help=argparse.SUPPRESS)
    return parser.parse_args()


async def counted(callgrind: Callgrind, work: Any) -> int:
    """The instructions ``work()`` takes, this process counting itself (callgrind_control runs
    on a thread while the event loop waits)."""
    await asyncio.to_thread(callgrind.start, os.getpid())
    await work()
    return await asyncio.to_thread(callgrind.stop, os.getpid())


async def measure_write(args: argparse.Namespace, database_url: str, callgrind: Callgrind) -> list[float]:
    """Instructions an event adds to a message's transaction, for each pair of legs."""
    account_id, _ = await seed(database_url, "http://127.0.0.1:9/events")
    engine = create_engine(database_url)
    every_type = Subscriptions(frozenset(), True)
    async with session_factory(engine)() as session, session.begin():
        config = AssistantConfig(name="bench", model="openai:stub-model")
        assistant = await create_assistant(session, account_id, config.to_columns())
        conversation = Conversation(assistant_id=assistant.id)
        await conversations.create_conversation(
            session,
            conversation.id,
            account_id=account_id,
            assistant_id=assistant.id,
            customer_identifier=conversation.customer_identifier,
            type=conversation.type,
            variables=conversation.variables,
        )

    def told(message_id: int) -> list[dict[str, Any]]:
        said = Message(message_id, "assistant", "ai", TEXT, utcnow())
        return message_events(account_id, conversation, said, every_type)

    async def transactions(count: int, with_event: bool) -> None:
        for _ in range(count):
            async with engine.begin() as db:
                await conversations.add_message(
                    db, conversation.id, author="ai", content=TEXT, told=told if with_event else None
                )

    try:
        await transactions(args.stored, True)
        extra = []
        for _ in range(2):
            plain = await counted(callgrind, lambda: transactions(args.writes, False))
            with_event = await counted(callgrind, lambda: transactions(args.writes, True))
            extra.append((with_event - plain) / args.writes)
        return extra
    finally:
        await engine.dispose()


async def measure_delivery(args: argparse.Namespace, database_url: str, callgrind: Callgrind) -> list[float]:
    """Instructions a delivered event costs the delivery loop, all rounds included."""
    account_id, _ = await seed(database_url, args.receiver)
    os.environ |= {
        "REPLYD_DATABASE_URL": database_url,
        "REPLYD_WEBHOOK_ALLOW": "127.0.0.1",
        "REPLYD_PRELOAD_LOCAL_MODEL": "false",
        "REPLYD_EVENT_ROUND_S": str(ROUND_S),
        "REPLYD_WEBHOOK_LEASE_S": "200",
    }
    services = Services.build(Settings(), Telemetry())
    delivery = services.event_delivery

    async def write(count: int) -> None:
        chat = str(uuid.uuid4())
        async with services.sessions() as session, session.begin():
            for n in range(count):
                row = events.event_row(account_id, MESSAGE_CREATED, payload(chat, n), new_event_id(), chat)
                await events.record_events(session, [row])

    async def deliver_all() -> None:
        while True:
            started = time.monotonic()
            await delivery.deliver_round()
            async with services.sessions() as session:
                if not await session.scalar(select(func.count()).where(events.DELIVERIES.c.status == "pending")):
                    return
            await asyncio.sleep(max(0.0, ROUND_S - (time.monotonic() - started)))

    try:
        await write(WARM_UP)  # the first statements compiled, the first connection made: not counted
        await deliver_all()
        await write(args.events)
        return [await counted(callgrind, deliver_all) / args.events]
    finally:
        await services.aclose()


def child(args: argparse.Namespace) -> None:
    """One part, in this process, under callgrind; prints its counts."""
    callgrind = Callgrind(args.out)
    with tempfile.TemporaryDirectory() as work, fresh_database(Path(work), args.postgres) as database_url:
        measure = measure_write if args.child == "write" else measure_delivery
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # replyd serve's loop (uvicorn's)
            counts = runner.run(measure(args, database_url, callgrind))
    print("COUNTS", " ".join(f"{count:.0f}" for count in counts))


def run_part(args: argparse.Namespace, part: str, work: Path, receiver: str) -> list[float]:
    out = Path(tempfile.mkdtemp(dir=work))
    options = ["--events", str(args.events), "--writes", str(args.writes), "--stored", str(args.stored)]
    options += ["--postgres", args.postgres] if args.postgres else []
    command = [
        sys.executable,
        "-m",
        "bench.event_instructions",
        "--child",
        part,
        "--out",
        str(out),
        "--receiver",
        receiver,
    ]
    done = subprocess.run(Callgrind(out).command([*command, *options]), capture_output=True, text=True)
    line = next((line for line in done.stdout.splitlines() if line.startswith("COUNTS")), None)
    if line is None:
        raise SystemExit(f"the {part} part failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return [float(count) for count in line.split()[1:]]


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-event-instructions-"))
    rows = []
    try:
        port = free_port()
        receiver = [sys.executable, "-c", RECEIVER_SERVER, str(port)]
        with running("the event receiver", receiver, port, work / "receiver.log"):
            for part in args.part or PARTS:
                for n in range(args.repeat):
                    print(f"  {part}, run {n + 1} of {args.repeat} (a few minutes) ...", file=sys.stderr)
                    rows.append((part, run_part(args, part, work, f"http://127.0.0.1:{port}/events")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    what = {
        "write": f"an event written with its message, as a reply writes it ({args.stored:,} events stored before)",
        "deliver": f"an event delivered ({args.events:,} of one conversation, rounds every {ROUND_S:g} s)",
    }
    print(f"\n{machine(Deployment(postgres_url=args.postgres), 'callgrind')}\n")
    print("| part | what is counted | thousand instructions an event |")
    print("|---|---|---:|")
    for part, counts in rows:
        print(f"| {part} | {what[part]} | {', '.join(f'{count / 1000:.1f}' for count in counts)} |")


if __name__ == "__main__":
    main()
