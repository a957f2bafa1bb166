"""Fixtures: a migrated database, a stub model server, live replyd servers over real HTTP,
and tenants (account + token + assistant) made fresh for each test."""

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import redis
from hypothesis import settings
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.app import create_app
from replyd.functions.signing import new_webhook_secret
from replyd.limits import ConversationLocks
from replyd.money import parse_amount
from replyd.notices import Notices
from replyd.services.assistant_config import AssistantConfig
from replyd.services.conversations import ConversationService
from replyd.services.upkeep import Upkeep
from replyd.services.widget_config import WidgetConfig
from replyd.settings import Settings
from replyd.store import accounts, ledger, widgets
from replyd.store.assistants import create_assistant
from replyd.store.migrate import upgrade_database
from replyd.store.session import create_engine, session_factory
from replyd.store.tables import Assistant, Conversation, LedgerEntry, Message
from tests.servers import (
    EventReceiver,
    GraphApi,
    StubModel,
    TcpProxy,
    TelegramApi,
    TwilioApi,
    receiving,
    serve_in_thread,
)

# Tests assert what replyd does, never how fast: no deadline for a hypothesis example, which a
# busy CI host can pause past the default 200 ms.
settings.register_profile("replyd", deadline=None)
settings.load_profile("replyd")

pytest_plugins = ["tests.processes"]  # real `replyd serve` processes, for tests/scale and tests/faults

STUB_MODEL = "openai:stub-model"
RUN_PREFIX = f"replyd-test-{uuid.uuid4().hex[:8]}"
"""Redis keys of this run, apart from every earlier run's (ids repeat across fresh databases)."""
CHANNEL_KEY = "zL0mnMSpOOSX8Ia2tLf1sVQxIw-5pq1WmTbmOY7H4nQ="
"""Seals the test servers' channel credentials (a Fernet key, as `replyd channels keygen` makes)."""


@pytest.fixture(scope="session")
def stub_model() -> Iterator[StubModel]:
    stub = StubModel()
    with serve_in_thread(stub.app()) as url:
        stub.base_url = url + "/v1"  # type: ignore[attr-defined]
        yield stub


@pytest.fixture(scope="session")
def telegram_api() -> Iterator[TelegramApi]:
    """The Bot API every test server sends Telegram messages to (they all deliver from one database)."""
    with stand_in(TelegramApi()) as api:
        yield api


@pytest.fixture(scope="session")
def graph_api() -> Iterator[GraphApi]:
    """The WhatsApp Cloud API every test server sends WhatsApp messages to."""
    with stand_in(GraphApi(), "/v21.0") as api:
        yield api


@pytest.fixture(scope="session")
def twilio_api() -> Iterator[TwilioApi]:
    """Twilio's REST API every test server sends SMS to."""
    with stand_in(TwilioApi()) as api:
        yield api


Platform = TypeVar("Platform", TelegramApi, GraphApi, TwilioApi)


@contextmanager
def stand_in(api: Platform, path: str = "") -> Iterator[Platform]:
    """A platform's API served on a loopback port; its ``base_url`` as the setting takes it."""
    with serve_in_thread(api.app()) as url:
        api.base_url = url + path
        yield api


@pytest.fixture(scope="session")
def server_port() -> int:
    """The session's server's port, chosen before it starts: every test server's public URL is
    that server's, as replicas behind one load balancer share one (platforms call it back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def _fresh_stub(stub_model: StubModel) -> None:
    stub_model.reset()


def service_missing(what: str) -> None:
    """In CI a missing service fails the run; on a developer's machine its tests are skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but is not reachable")
    pytest.skip(f"{what} is not reachable; start it to run this test")


@pytest.fixture
def receiver() -> Iterator[tuple[EventReceiver, str]]:
    """An integrator's event endpoint, and its URL."""
    with receiving() as served:
        yield served


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REPLYD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        service_missing(f"Redis at {url}")
    return url


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[TcpProxy]:
    """A way to the test Redis that the test can cut, as if Redis stopped; connect to ``.url``."""
    proxy = TcpProxy(redis_url)
    yield proxy
    proxy.close()


@contextmanager
def empty_database(directory: Path, name: str) -> Iterator[str]:
    """A new SQLite file in ``directory``, or with REPLYD_TEST_POSTGRES_URL (a server URL) a
    PostgreSQL database ``name`` made for it and dropped after; empty either way."""
    server = os.environ.get("REPLYD_TEST_POSTGRES_URL")
    if not server:
        yield f"sqlite:///{directory}/replyd.db"
        return
    asyncio.run(_postgres(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_postgres(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This run's database, migrated by Alembic."""
    with empty_database(tmp_path_factory.mktemp("db"), RUN_PREFIX.replace("-", "_")) as url:
        upgrade_database(url)
        yield url


async def _postgres(server: str, statement: str) -> None:
    try:
        connection = await asyncpg.connect(make_url(server).set(drivername="postgresql").render_as_string(False))
    except (OSError, asyncpg.PostgresError):
        service_missing(f"PostgreSQL at {server}")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def make_settings(
    database_url: str,
    stub_model: StubModel,
    telegram_api: TelegramApi,
    graph_api: GraphApi,
    twilio_api: TwilioApi,
    server_port: int,
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "openai_base_url": stub_model.base_url,  # type: ignore[attr-defined]
            "openai_api_key": "test-key",
            "rate_limit": "1000/minute",
            "model_timeout_s": 10.0,
            "model_retries": 0,
            "webhook_allow": "127.0.0.1/32",  # the tests' own webhook server; nothing else
            "redis_url": os.environ.get("REPLYD_TEST_APP_REDIS_URL"),
            "redis_key_prefix": RUN_PREFIX,
            # Every test server delivers events from the one test database, so all retry alike, and soon.
            "webhook_retry_schedule": "0.2,0.2,0.2",
            "channel_key": CHANNEL_KEY,
            "telegram_api_url": telegram_api.base_url,
            "channel_answer_after_s": 1.0,
            "whatsapp_api_url": graph_api.base_url,
            "twilio_api_url": twilio_api.base_url,
            "public_url": f"http://127.0.0.1:{server_port}",
        }
        return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]

    return make


@pytest.fixture(scope="session")
def start_server(make_settings: Callable[..., Settings]) -> Callable[..., AbstractContextManager[str]]:
    """Start another replyd server with some settings changed; yields its base URL."""

    @contextmanager
    def start(**overrides: Any) -> Iterator[str]:
        with serve_in_thread(create_app(make_settings(**overrides))) as url:
            yield url

    return start


@pytest.fixture(scope="session")
def server(make_settings: Callable[..., Settings], server_port: int) -> Iterator[str]:
    with serve_in_thread(create_app(make_settings()), port=server_port) as url:
        yield url


@asynccontextmanager
async def sessions_on(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def conversations_on(sessions: async_sessionmaker[AsyncSession]) -> ConversationService:
    """The conversation service a server acts through, here on the test's sessions."""
    return ConversationService(sessions, ConversationLocks(), Notices(None, f"{RUN_PREFIX}:live"), 10_000)


def upkeep_on(sessions: async_sessionmaker[AsyncSession], event_log_days: int = 30) -> Upkeep:
    """The database upkeep a server runs (its default 24-hour Idempotency-Key window and, unless
    told, 30 days of event deliveries), here on the test's sessions, for a test to run a round
    of it when it likes."""
    conversations = conversations_on(sessions)
    return Upkeep(sessions.kw["bind"], sessions, conversations, 24 * 3600, event_log_days)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with sessions_on(database_url) as sessions:
        yield sessions


@dataclass
class Tenant:
    account_id: int
    token: str
    token_id: int
    assistant_id: int
    client: httpx.AsyncClient
    webhook_secret: str

    async def reply(self, message: str = "Hello", customer: str = "+49155551234", **fields: Any) -> httpx.Response:
        body = {"assistant_id": self.assistant_id, "customer_identifier": customer, "message": message, **fields}
        return await self.client.post("/api/ai/generate-reply", json=body)


@pytest.fixture
async def make_tenant(db: async_sessionmaker[AsyncSession], server: str) -> AsyncIterator[Callable[..., Any]]:
    """``await make_tenant(balance="10.00", rate_limit=None, base_url=server, sessions=db, **assistant_fields)``:
    ``sessions`` is the database to make it in, for servers on a database of a test's own."""
    clients: list[httpx.AsyncClient] = []

    async def make(
        balance: str = "10.00",
        rate_limit: str | None = None,
        base_url: str | None = None,
        sessions: async_sessionmaker[AsyncSession] = db,
        **assistant_fields: Any,
    ) -> Tenant:
        config = AssistantConfig.model_validate({"name": "Test assistant", "model": STUB_MODEL} | assistant_fields)
        async with sessions() as session, session.begin():
            account = await accounts.create_account(session, "test", parse_amount(balance), new_webhook_secret())
            token = await accounts.create_token(session, account.id, rate_limit)
            assistant = await create_assistant(session, account.id, config.to_columns())
        client = httpx.AsyncClient(
            base_url=base_url or server, headers={"Authorization": f"Bearer {token.secret}"}, timeout=60
        )
        clients.append(client)
        return Tenant(account.id, token.secret, token.token.id, assistant.id, client, account.webhook_secret)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def tenant(make_tenant: Callable[..., Any]) -> Tenant:
    tenant: Tenant = await make_tenant()
    return tenant


@dataclass(frozen=True)
class Snapshot:
    """What an account has stored: compare two to prove an error changed nothing."""

    conversations: int
    messages: int
    ledger_entries: int
    balance_micros: int
    ledger_sum_micros: int


@pytest.fixture
def snapshot(db: async_sessionmaker[AsyncSession]) -> Callable[[int], Any]:
    async def take(account_id: int) -> Snapshot:
        owned = Conversation.assistant_id.in_(select(Assistant.id).where(Assistant.account_id == account_id))
        async with db() as session:
            conversations = await session.scalar(select(func.count()).select_from(Conversation).where(owned))
            messages = await session.scalar(select(func.count()).select_from(Message).join(Conversation).where(owned))
            entries = await session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.account_id == account_id)
            )
            return Snapshot(
                conversations or 0,
                messages or 0,
                entries or 0,
                await ledger.balance_micros(session, account_id),
                await ledger.ledger_sum_micros(session, account_id),
            )

    return take


@pytest.fixture
def make_widget(db: async_sessionmaker[AsyncSession]) -> Callable[..., Any]:
    """``await make_widget(tenant, origins, **look)``: the tenant's assistant's chat widget,
    allowed on ``origins``; returns its public key."""

    async def make(tenant: Tenant, origins: list[str], **look: Any) -> str:
        config = WidgetConfig.parse({"allowed_origins": origins, **look})
        async with db() as session, session.begin():
            await widgets.widget_secret(session, tenant.account_id)
            widget = await widgets.save_widget(
                session, tenant.account_id, tenant.assistant_id, True, config.allowed_origins, config.theme()
            )
            return widget.public_key

    return make
