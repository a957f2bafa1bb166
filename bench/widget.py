"""Chat widget: how many replies a second one ``replyd serve`` process gives through the
widget's endpoint with an instant model, and how soon a human agent's message reaches an open
widget's live stream.

A fresh, migrated database (SQLite, or PostgreSQL with ``--postgres``) with one account, an
assistant on the stub model, an admin token and the assistant's widget (made through replyd's
own WidgetService); ``replyd serve`` started on it, with tests/servers.py's stub model in this
process. Part 1: ``--visitors`` visitors open their conversation and send ``--messages`` each,
``--concurrency`` visitors at a time, as widget.js does (Origin, the visitor id): replies a
second and their latency. Part 2: one visitor's stream is open (as EventSource holds it); an
operator posts ``--agent-messages`` agent messages through the API, one after another, each
after the one before arrived: the time from the POST until the stream carries it. With
``--workers 2 --redis URL`` the stream and a POST are often held by different workers, so the
message's notice goes through Redis.

Run from the repository root:  .venv/bin/python -m bench.widget
"""

import argparse
import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.overhead.replyd_server import Deployment, fresh_database, replyd_command, replyd_env
from bench.overhead.report import machine
from bench.processes import free_port, logged_errors, one_by_one_row, p50_p99_cells, running, tree_cpu_s
from replyd.functions.signing import new_webhook_secret
from replyd.services import Services
from replyd.services.assistant_config import AssistantConfig
from replyd.services.widget_config import WidgetConfig
from replyd.settings import Settings
from replyd.store import accounts
from replyd.store.assistants import create_assistant
from tests.servers import StubModel, serve_in_thread

ORIGIN = "https://shop.example.com"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.widget", description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=200, help="part 1: visitors, each in a conversation")
    parser.add_argument("--messages", type=int, default=5, help="part 1: messages each visitor sends")
    parser.add_argument("--concurrency", type=int, default=16, help="part 1: visitors sending at once")
    parser.add_argument("--agent-messages", type=int, default=40, help="part 2: agent messages, one after another")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    parser.add_argument("--redis", metavar="URL", help="a Redis server for shared limits, locks and live notices")
    parser.add_argument("--workers", type=int, default=1, help="replyd worker processes (more than one wants --redis)")
    return parser.parse_args()


async def seed(database_url: str) -> tuple[str, str]:
    """An account with an assistant on the stub model and its widget: the widget's key, an admin token."""
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    async with Services.running(settings) as services:
        async with services.sessions() as session, session.begin():
            account = await accounts.create_account(session, "bench", 1_000_000 * 1_000_000, new_webhook_secret())
            token = await accounts.create_token(session, account.id, None)
            config = AssistantConfig(name="bench", model="openai:stub-model")
            assistant = await create_assistant(session, account.id, config.to_columns())
        widget = await services.widgets.save(account.id, assistant.id, WidgetConfig(allowed_origins=[ORIGIN]))
    return widget.public_key, token.secret


async def open_visitor(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    answer = await client.post(f"/widget/{key}/conversations", json={}, headers={"Origin": ORIGIN})
    assert answer.status_code == 200, answer.text
    opened: dict[str, Any] = answer.json()
    return opened


async def chat(client: httpx.AsyncClient, key: str, args: argparse.Namespace) -> list[float]:
    """Every visitor's messages, ``--concurrency`` visitors at a time; each reply's seconds."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(args.concurrency)

    async def visit() -> None:
        async with gate:
            visitor = await open_visitor(client, key)
            path = f"/widget/{key}/conversations/{visitor['conversation_id']}/messages"
            headers = {"Origin": ORIGIN, "X-Replyd-Visitor": visitor["visitor"]}
            for n in range(args.messages):
                body = {"message": f"Question {n}: do you ship to Austria?"}
                started = time.perf_counter()
                answer = await client.post(path, json=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text

    await asyncio.gather(*(visit() for _ in range(args.visitors)))
    return latencies


async def agent_delivery(client: httpx.AsyncClient, key: str, token: str, count: int) -> list[float]:
    """Seconds from each agent message's POST until the visitor's stream carried it."""
    visitor = await open_visitor(client, key)
    conversation = visitor["conversation_id"]
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def listen() -> None:
        url = f"/widget/{key}/conversations/{conversation}/events"
        while True:  # the server ends each stream after a while; the browser would reconnect
            params = {"visitor": visitor["visitor"]}
            async with client.stream("GET", url, params=params, headers={"Origin": ORIGIN}) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data: ") and json.loads(line[6:]).get("author") == "agent":
                        arrived.put_nowait(time.perf_counter())

    listener = asyncio.create_task(listen())
    await asyncio.sleep(1)  # the stream is open
    latencies = []
    for n in range(count):
        await asyncio.sleep(random.uniform(0, 1))  # an agent writes at any point of the stream's polling
        started = time.perf_counter()
        answer = await client.post(
            f"/api/conversations/{conversation}/agent-messages",
            json={"message": f"Agent message {n}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        latencies.append(await asyncio.wait_for(arrived.get(), 30) - started)
    listener.cancel()
    return latencies


async def run(base_url: str, pid: int, key: str, token: str, args: argparse.Namespace) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        cpu_before, started = tree_cpu_s(pid), time.perf_counter()
        replies = await chat(client, key, args)
        elapsed_s, cpu_s = time.perf_counter() - started, tree_cpu_s(pid) - cpu_before
        live = await agent_delivery(client, key, token, args.agent_messages)
    return [
        "| part | visitors | replies | replies/s | reply p50 ms | reply p99 ms | replyd CPU ms/reply |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| 1: {args.concurrency} visitors at a time | {args.visitors} | {len(replies)} "
        f"| {len(replies) / elapsed_s:.0f} "
        f"| {p50_p99_cells(replies)} | {cpu_s * 1000 / len(replies):.2f} |",
        "",
        *one_by_one_row("agent's POST to the widget's stream", live),
    ]


def main() -> None:
    args = parse_args()
    deployment = Deployment(args.postgres, args.redis, args.workers)
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-widget-"))
    stub = StubModel()
    with fresh_database(work, deployment.postgres_url) as database_url, serve_in_thread(stub.app()) as stub_url:
        key, token = asyncio.run(seed(database_url))
        port = free_port()
        env = replyd_env(database_url, f"{stub_url}/v1", deployment.redis_url) | {
            "REPLYD_WIDGET_VISITOR_RATE_LIMIT": "1000000/minute",
            "REPLYD_WIDGET_IP_RATE_LIMIT": "1000000/minute",
        }
        with running(
            "replyd serve", replyd_command(port, deployment.workers), port, work / "replyd.log", cwd=work, env=env
        ) as replyd:
            lines = asyncio.run(run(f"http://127.0.0.1:{port}", replyd.pid, key, token, args))
    errors = logged_errors(work / "replyd.log")
    print(f"\n{machine(deployment, 'the stub model and the clients in the benchmark process')}\n")
    print("\n".join(lines))
    for line, count in errors.most_common():
        print(f"replyd logged {count}x: {line}")
    if errors:
        print(f"\nreplyd's log is kept in {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
