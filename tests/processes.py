"""Real ``replyd serve`` processes on loopback ports, sharing one PostgreSQL database and one
Redis, answered by the test process's stub model: the helpers, and the fixtures of the scale-out
and fault tests (a plugin, see ``tests/conftest.py``); and reading the process table, to find a
server's workers and see them gone."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.conversations import all_messages
from replyd.store.tables import Account, Conversation, LedgerEntry, Message
from tests.conftest import RUN_PREFIX, Tenant
from tests.servers import StubModel

REPLYD = Path(sys.executable).with_name("replyd")
"""The installed command, next to the interpreter running the tests."""
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
ROUTE = "/api/ai/generate-reply"
FEE_MICROS = 10_000
"""The default assistant's reply fee (0.01); its token prices are zero."""
ClientFor = Callable[[str, Tenant], httpx.AsyncClient]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    """One ``replyd serve`` process; its output goes to a log file. Restarts keep the port."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, workers: int = 1, port: int | None = None
    ) -> None:
        self.name = name
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.port = port or free_port()
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(REPLYD), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env,
                cwd=self.log_path.parent,  # no stray .env file
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, which kill_group() kills whole
            )

    def wait_until_healthy(self) -> None:
        """Poll GET /healthz until it answers; fail at once if the process exits."""
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with httpx.Client(trust_env=False, timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"replyd {self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replyd {self.name} did not answer /healthz:\n{self.log_tail()}")
                time.sleep(0.05)

    def start(self) -> None:
        self.launch()
        self.wait_until_healthy()

    def kill(self) -> None:
        """SIGKILL: the process dies mid-request, with no chance to clean up."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def kill_group(self) -> None:
        """SIGKILL to the parent and its workers at once, as the OOM killer or a lost machine would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def worker_pids(self) -> list[int]:
        """The pids of the worker processes serving requests (uvicorn's, with ``--workers``)."""
        assert self.process is not None
        return workers_of(self.process.pid)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def state_of(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent pid, from /proc; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return state, int(ppid)


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an exited process nobody has reaped yet holds nothing)."""
    state = state_of(pid)
    return state is not None and state[0] != "Z"


def workers_of(parent: int) -> list[int]:
    """The processes ``parent`` started with multiprocessing's spawn: uvicorn's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (state_of(int(entry.name)) or ("", 0))[1] == parent:
            try:
                if b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def wait_until_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Poll until none of ``pids`` runs; returns those still running at the deadline."""
    deadline = time.monotonic() + timeout_s
    while (running := [pid for pid in pids if is_running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


def stop_all(servers: list[ServerProcess]) -> None:
    """SIGTERM to every running one at once, then SIGKILL to any that has not exited in time."""
    running = [server.process for server in servers if server.is_running and server.process is not None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@dataclass
class Deployment:
    """Two replyd processes behind one database and one Redis, as behind a load balancer."""

    a: ServerProcess
    b: ServerProcess


@pytest.fixture(scope="module")
def postgres_url(database_url: str) -> str:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL: runs in the PostgreSQL + Redis pass of make test")
    return database_url


@pytest.fixture(scope="module")
def server_env(postgres_url: str, redis_url: str, stub_model: StubModel) -> dict[str, str]:
    """The environment of every server process of this module; nothing inherited from REPLYD_*."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("REPLYD_") and name not in {"OPENAI_BASE_URL", "OPENAI_API_KEY"}
    }
    return inherited | {
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "REPLYD_DATABASE_URL": postgres_url,
        "REPLYD_REDIS_URL": redis_url,
        "REPLYD_REDIS_KEY_PREFIX": f"{RUN_PREFIX}-scale-{uuid.uuid4().hex[:8]}",
        "REPLYD_OPENAI_BASE_URL": stub_model.base_url,  # type: ignore[attr-defined]
        "REPLYD_OPENAI_API_KEY": "k",
        "REPLYD_MODEL_RETRIES": "0",
        "REPLYD_MODEL_TIMEOUT_S": "40",
        "REPLYD_MODEL_DEADLINE_S": "40",  # longer than the stub holds a gated answer (30 s)
        "REPLYD_RATE_LIMIT": "1000/minute",
        "REPLYD_LOCK_LEASE_S": "1",
        "REPLYD_IDEMPOTENCY_WAIT_S": "60",
        "REPLYD_SHUTDOWN_GRACE_S": "20",
    }


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replyd-processes")


@pytest.fixture(scope="module")
def spawn(server_env: dict[str, str], log_dir: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``spawn(name, **settings)``: start another server process (settings as REPLYD_* names
    without the prefix: ``model_deadline_s=1``); every one is stopped with the module."""
    started: list[ServerProcess] = []

    def start(name: str, **settings: Any) -> ServerProcess:
        env = server_env | {f"REPLYD_{key.upper()}": str(value) for key, value in settings.items()}
        server = ServerProcess(name, env, log_dir)
        started.append(server)
        server.start()
        return server

    yield start
    stop_all(started)


@pytest.fixture(scope="module")
def hasty_server(spawn: Callable[..., ServerProcess]) -> ServerProcess:
    """A third process that gives the model one second (REPLYD_MODEL_DEADLINE_S=1)."""
    return spawn("hasty", model_deadline_s=1)


@pytest.fixture(scope="module")
def deployment(server_env: dict[str, str], log_dir: Path) -> Iterator[Deployment]:
    servers = Deployment(ServerProcess("a", server_env, log_dir), ServerProcess("b", server_env, log_dir))
    try:
        for server in (servers.a, servers.b):  # both start at once, then both are waited for
            server.launch()
        for server in (servers.a, servers.b):
            server.wait_until_healthy()
        yield servers
    finally:
        stop_all([servers.a, servers.b])


@pytest.fixture
def servers(deployment: Deployment) -> Deployment:
    """Both processes, running: a test that killed one has it started again for the next."""
    for server in (deployment.a, deployment.b):
        if not server.is_running:
            server.start()
    return deployment


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a lone ``replyd serve`` on a SQLite file of this test's own."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("REPLYD_")}
    return inherited | {
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "REPLYD_DATABASE_URL": f"sqlite:///{tmp_path}/replyd.db",
    }


@pytest.fixture
def stopped_after() -> Iterator[list[ServerProcess]]:
    """Server processes the test starts, to stop after it."""
    started: list[ServerProcess] = []
    yield started
    stop_all(started)


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[str, Tenant], httpx.AsyncClient]]:
    """``client_for(url, tenant)``: another HTTP client with the tenant's token, for another process."""
    clients: list[httpx.AsyncClient] = []

    def make(base_url: str, tenant: Tenant) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {tenant.token}"}, timeout=60, trust_env=False
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def stored_messages(db: async_sessionmaker[AsyncSession], conversation_id: str) -> list[Message]:
    async with db() as session:
        return await all_messages(session, conversation_id)


async def send(
    client: httpx.AsyncClient, tenant: Tenant, message: str, customer: str, key: str | None = None
) -> httpx.Response:
    """POST a generate-reply, with an Idempotency-Key if given."""
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": customer, "message": message}
    return await client.post(ROUTE, json=body, headers={"Idempotency-Key": key} if key else {})


def expected_shape(messages: list[Message]) -> list[tuple[str, str | None]]:
    """Each customer message as its status says: answered and then one reply, or failed and no
    reply; only the last may still be pending (its process died)."""
    shape: list[tuple[str, str | None]] = []
    for n, message in enumerate(messages):
        if message.role != "user":
            continue
        if message.reply_status == "pending":
            assert n == len(messages) - 1, f"message {message.id} is pending but not the last"
        shape.append(("user", message.reply_status))
        if message.reply_status == "answered":
            shape.append(("assistant", None))
    return shape


async def assert_consistent(db: async_sessionmaker[AsyncSession], snapshot: Any, account_id: int) -> None:
    """What must hold after any mix of crashes and failures: in every conversation each
    answered customer message is followed by exactly one reply, an unanswered one (failed, or
    pending as the last message after a crash) by none (unless the AI was disabled), no
    message is stored twice, each reply is charged once, the balance is the ledger's sum, and
    what the account holds for replies in progress is what its pending messages hold."""
    async with db() as session:
        owned = await session.scalars(select(Conversation).where(Conversation.account_id == account_id))
        reply_ids: set[int] = set()
        held = 0
        for conversation in owned.all():
            messages = await all_messages(session, conversation.id)
            held += sum(m.reserved_micros for m in messages if m.reply_status == "pending")
            customer_messages = [m.content for m in messages if m.role == "user"]
            assert len(customer_messages) == len(set(customer_messages)), "a message was stored twice"
            reply_ids |= {m.id for m in messages if m.role == "assistant"}
            if not conversation.ai_disabled:
                assert [(m.role, m.reply_status) for m in messages] == expected_shape(messages), [
                    (m.role, m.content, m.reply_status) for m in messages
                ]
        charged = await session.scalars(
            select(LedgerEntry.message_id).where(LedgerEntry.account_id == account_id, LedgerEntry.kind == "reply")
        )
        charged_ids = list(charged.all())
        account_holds = await session.scalar(select(Account.reserved_micros).where(Account.id == account_id))
    assert sorted(charged_ids) == sorted(reply_ids), "each reply is charged exactly once"
    assert account_holds == held, "the account holds what its pending messages hold"
    now = await snapshot(account_id)
    assert now.balance_micros == now.ledger_sum_micros
