"""A Telegram channel (or a Twilio SMS one, ``--kind twilio``): how many messages a second one
``replyd serve`` process acknowledges, and how long from a message's POST until the answer
reaches the platform's API, with an instant model.

A fresh, migrated database (SQLite, or PostgreSQL with ``--postgres``) with one account, an
assistant on the stub model and the channel made through replyd's own ChannelService; ``replyd
serve`` started on it, with the stub model and the platform's stand-in of tests/servers.py
(which checks each send) running in this process. Part 1 posts ``--updates`` messages from as
many chats, ``--concurrency`` at a time: acknowledgements a second, their latency, and how long
until every answer was sent. Part 2 posts ``--one-by-one`` messages one after another, each
after the answer to the one before arrived: the time from POST to the platform's send call.

Run from the repository root:  .venv/bin/python -m bench.channels [--kind twilio]
"""

import argparse
import asyncio
import itertools
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator

from bench.overhead.replyd_server import Deployment, fresh_database, replyd_command, replyd_env
from bench.overhead.report import machine
from bench.processes import free_port, one_by_one_row, p50_p99_cells, running, tell_logged_errors, tree_cpu_s
from replyd.channels.sealing import new_key
from replyd.functions.signing import new_webhook_secret
from replyd.services import Services
from replyd.services.assistant_config import AssistantConfig
from replyd.settings import Settings
from replyd.store import accounts
from replyd.store.assistants import create_assistant
from tests.servers import StubModel, TelegramApi, TwilioApi, serve_in_thread

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TWILIO = {
    "account_sid": "AC" + "0" * 31 + "1",
    "auth_token": "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d",
    "from_number": "+14155550100",
}
GIVE_UP_S = 300.0
updates = itertools.count(1)


@dataclass(frozen=True)
class Kind:
    """What the benchmark does differently per platform."""

    credentials: dict[str, str]
    api: TelegramApi | TwilioApi
    api_setting: str
    post: Callable[[httpx.AsyncClient, str, str | None, int], Awaitable[httpx.Response]]
    """Post a message from a chat to the channel's path, as the platform does."""

    def sent(self) -> int:
        return len(self.api.sent)

    def chats_answered_twice(self) -> int:
        if isinstance(self.api, TelegramApi):
            chats = Counter(body["chat_id"] for _, body in self.api.sent)
        else:
            chats = Counter(form["To"] for form in self.api.sent)
        return sum(n > 1 for n in chats.values())


def post_update(client: httpx.AsyncClient, path: str, secret: str | None, chat_id: int) -> Awaitable[httpx.Response]:
    return client.post(path, json=update(chat_id), headers={"X-Telegram-Bot-Api-Secret-Token": secret or ""})


def post_sms(client: httpx.AsyncClient, path: str, _: str | None, chat_id: int) -> Awaitable[httpx.Response]:
    form = {"MessageSid": f"SM{next(updates):032x}", "AccountSid": TWILIO["account_sid"], "From": f"+1415{chat_id:07d}"}
    form |= {"To": TWILIO["from_number"], "Body": "Open today?", "NumMedia": "0"}
    signature = RequestValidator(TWILIO["auth_token"]).compute_signature(f"{client.base_url}{path}", form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


KINDS = {
    "telegram": lambda: Kind({"bot_token": BOT_TOKEN}, TelegramApi(), "REPLYD_TELEGRAM_API_URL", post_update),
    "twilio": lambda: Kind(TWILIO, TwilioApi(), "REPLYD_TWILIO_API_URL", post_sms),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.channels", description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000, help="part 1: updates, each from its own chat")
    parser.add_argument("--concurrency", type=int, default=16, help="part 1: updates posted at once")
    parser.add_argument("--one-by-one", type=int, default=50, help="part 2: updates, one after another")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="telegram", help="the channel's platform")
    return parser.parse_args()


async def seed(database_url: str, key: str, kind: str, credentials: dict[str, str]) -> tuple[int, str | None]:
    """An account, an assistant on the stub model and its channel: the channel's id and secret."""
    settings = Settings(_env_file=None, database_url=database_url, channel_key=key)  # type: ignore[call-arg]
    async with Services.running(settings) as services, services.sessions() as session, session.begin():
        account = await accounts.create_account(session, "bench", 1_000_000 * 1_000_000, new_webhook_secret())
        config = AssistantConfig(name="bench", model="openai:stub-model")
        assistant = await create_assistant(session, account.id, config.to_columns())
    async with Services.running(settings) as services:
        added = await services.channels.add(None, assistant.id, kind, credentials)
    return added.channel.id, added.inbound_secret


def update(chat_id: int) -> dict[str, object]:
    message = {"message_id": 1, "date": 1764770000, "chat": {"id": chat_id, "type": "private"}, "text": "Open today?"}
    return {"update_id": next(updates), "message": message}


async def acknowledge(
    client: httpx.AsyncClient, kind: Kind, path: str, secret: str | None, chats: range, concurrency: int
) -> list[float]:
    """Post a message from each chat, ``concurrency`` at a time; each acknowledgement's seconds."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(chat_id: int) -> None:
        async with gate:
            started = time.perf_counter()
            answer = await kind.post(client, path, secret, chat_id)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text

    await asyncio.gather(*(one(chat_id) for chat_id in chats))
    return latencies


async def until_sent(kind: Kind, count: int) -> None:
    deadline = time.perf_counter() + GIVE_UP_S
    while kind.sent() < count:
        assert time.perf_counter() < deadline, f"only {kind.sent()} of {count} answers were sent"
        await asyncio.sleep(0.002)


async def run(
    base_url: str, pid: int, channel_id: int, secret: str | None, kind: Kind, args: argparse.Namespace
) -> list[str]:
    path = f"/channels/{channel_id}/{args.kind}"
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        cpu_before, started = tree_cpu_s(pid), time.perf_counter()
        acks = await acknowledge(client, kind, path, secret, range(1, args.updates + 1), args.concurrency)
        acked_s = time.perf_counter() - started
        await until_sent(kind, args.updates)
        sent_s, cpu_s = time.perf_counter() - started, tree_cpu_s(pid) - cpu_before
        end_to_end = []
        for n in range(args.one_by_one):
            started = time.perf_counter()
            await acknowledge(client, kind, path, secret, range(10_000_000 + n, 10_000_001 + n), 1)
            await until_sent(kind, args.updates + n + 1)
            end_to_end.append(time.perf_counter() - started)
    return [
        "| part | messages | acknowledged/s | ack p50 ms | ack p99 ms | all answers sent after s | answers/s "
        "| replyd CPU ms/message |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| 1: {args.concurrency} at a time | {args.updates} | {args.updates / acked_s:.0f} "
        f"| {p50_p99_cells(acks)} | {sent_s:.1f} "
        f"| {args.updates / sent_s:.0f} | {cpu_s * 1000 / args.updates:.2f} |",
        "",
        *one_by_one_row("POST to the platform's send", end_to_end),
    ]


def main() -> None:
    args = parse_args()
    deployment = Deployment(args.postgres)
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-channels-"))
    stub, kind, key = StubModel(), KINDS[args.kind](), new_key()
    with (
        fresh_database(work, deployment.postgres_url) as database_url,
        serve_in_thread(stub.app()) as stub_url,
        serve_in_thread(kind.api.app()) as api_url,
    ):
        channel_id, secret = asyncio.run(seed(database_url, key, args.kind, kind.credentials))
        port = free_port()
        env = replyd_env(database_url, f"{stub_url}/v1") | {"REPLYD_CHANNEL_KEY": key, kind.api_setting: api_url}
        with running("replyd serve", replyd_command(port), port, work / "replyd.log", cwd=work, env=env) as replyd:
            lines = asyncio.run(run(f"http://127.0.0.1:{port}", replyd.pid, channel_id, secret, kind, args))
    print(f"\n{machine(deployment, f'the stub model and the {args.kind} stand-in in the benchmark process')}\n")
    print("\n".join(lines))
    print(f"\nmalformed sends: {kind.api.malformed}; chats answered twice: {kind.chats_answered_twice()}")
    tell_logged_errors(work)


if __name__ == "__main__":
    main()
