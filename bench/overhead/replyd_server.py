"""replyd as the benchmark runs it: a fresh, migrated database (SQLite, or PostgreSQL with
``--postgres``) seeded with one account, token and assistant, and ``replyd serve`` in front of
the stub model."""

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from replyd.functions.signing import new_webhook_secret
from replyd.services.assistant_config import AssistantConfig
from replyd.store import accounts, events
from replyd.store.assistants import create_assistant
from replyd.store.migrate import upgrade_database
from replyd.store.session import create_engine, session_factory


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


def seed(database_url: str, endpoint_url: str | None = None) -> tuple[str, int]:
    """One account with a big balance, a token with a limit the benchmark never reaches, an
    assistant on the stub model and, given its URL, an endpoint taking every event type;
    returns the token and the assistant's id."""

    async def work() -> tuple[str, int]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                account = await accounts.create_account(session, "bench", 1_000_000 * 1_000_000, new_webhook_secret())
                token = await accounts.create_token(session, account.id, "1000000/minute")
                config = AssistantConfig(name="bench", model="openai:stub-model")
                assistant = await create_assistant(session, account.id, config.to_columns())
                if endpoint_url:
                    await events.create_endpoint(session, account.id, endpoint_url, [], new_webhook_secret())
                return token.secret, assistant.id
        finally:
            await engine.dispose()

    return asyncio.run(work())


def events_delivered(database_url: str) -> Callable[[], Awaitable[None]]:
    """Waits until every event is fanned out and delivered (or failed for good)."""
    undelivered = text(
        "SELECT (SELECT count(*) FROM events WHERE NOT fanned_out)"
        " + (SELECT count(*) FROM deliveries WHERE status = 'pending')"
    )

    async def settle() -> None:
        engine = create_engine(database_url)
        try:
            while True:
                async with engine.connect() as connection:
                    if not (await connection.execute(undelivered)).scalar():
                        return
                await asyncio.sleep(0.05)
        finally:
            await engine.dispose()

    return settle


def replyd_env(database_url: str, stub_url: str | None = None, redis_url: str | None = None) -> dict[str, str]:
    """``stub_url``: the model's, for a benchmark that asks for replies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLYD_", "OPENAI_"))}
    if redis_url:
        env |= {"REPLYD_REDIS_URL": redis_url, "REPLYD_REDIS_KEY_PREFIX": f"replyd-bench-{os.getpid()}"}
    if stub_url:
        env |= {"REPLYD_OPENAI_BASE_URL": stub_url, "REPLYD_OPENAI_API_KEY": "x"}
    return env | {
        "REPLYD_DATABASE_URL": database_url,
        "REPLYD_RATE_LIMIT": "1000000/minute",
        "REPLYD_WEBHOOK_ALLOW": "127.0.0.1",  # the event receivers of --endpoint and bench.events
    }


def replyd_command(port: int, workers: int = 1) -> list[str]:
    return [str(Path(sys.executable).with_name("replyd")), "serve", "--port", str(port), "--workers", str(workers)]


@contextmanager
def fresh_database(work: Path, postgres_url: str | None) -> Iterator[str]:
    """A migrated database for one run: a SQLite file in ``work``, or a PostgreSQL database
    made on the server at ``postgres_url`` and dropped afterwards (named after the process and
    ``work``, so a benchmark may hold several at once)."""
    if not postgres_url:
        url = f"sqlite:///{work / 'replyd.db'}"
        upgrade_database(url)
        yield url
        return
    name = f"replyd_bench_{os.getpid()}_{''.join(c if c.isalnum() else '_' for c in work.name)}"[:63]
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
