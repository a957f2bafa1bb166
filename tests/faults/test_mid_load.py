"""Faults in the middle of load. 20 customers send 4 messages each, every one with its own
Idempotency-Key, to a real ``replyd serve --workers 2`` on PostgreSQL and Redis (each reached
through a TCP proxy the test can cut), the stub model taking 0.1 s a reply. Once a third of the
messages are answered a fault strikes: SIGKILL of one worker, of the parent or of the whole
process group, or Redis or PostgreSQL going away. Then the server runs again (or the service is
back), every customer sends again what went unanswered, with the same keys, and the test checks
that what each client was told, what is stored and what is charged agree, and nothing is lost.
The same server shows that concurrent replies never overdraw an account across two workers."""

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Tenant
from tests.faults.load import Figures, Load
from tests.faults.test_overdraft import assert_twenty_concurrent_replies_never_overdraw
from tests.processes import (
    FEE_MICROS,
    STOP_TIMEOUT_S,
    ClientFor,
    ServerProcess,
    assert_consistent,
    stop_all,
    wait_until_gone,
)
from tests.servers import Scripted, StubModel, TcpProxy

pytestmark = pytest.mark.skipif(
    not os.environ.get("REPLYD_TEST_POSTGRES_URL"),
    reason="needs PostgreSQL and Redis: runs in the PostgreSQL + Redis pass of make test",
)

CUSTOMERS = int(os.environ.get("REPLYD_TEST_FAULT_CUSTOMERS", "20"))
MESSAGES = int(os.environ.get("REPLYD_TEST_FAULT_MESSAGES", "4"))
"""Each customer's messages; both can be raised for a larger run by hand (docs/reliability.md)."""
MODEL_DELAY_S = 0.1


@dataclass(frozen=True)
class Backing:
    """The ways from the server to its database and to Redis, which a test can cut."""

    database: TcpProxy
    redis: TcpProxy


Recovery = Callable[[], None]


def kill_a_worker(server: ServerProcess, backing: Backing) -> Recovery:
    """The worker with the most open sockets: the customers' keep-alive connections may all
    have landed on one worker, and killing the other would strike nothing."""
    os.kill(max(server.worker_pids(), key=open_sockets), signal.SIGKILL)
    return lambda: None  # the other worker goes on serving


def open_sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed since it was listed
            count += os.readlink(fd).startswith("socket:")
    return count


def kill_the_parent(server: ServerProcess, backing: Backing) -> Recovery:
    workers = server.worker_pids()
    server.kill()

    def start_again() -> None:
        assert wait_until_gone(workers, STOP_TIMEOUT_S) == [], "the workers outlived their parent"
        server.start()  # on the same port, which the old workers let go of

    return start_again


def kill_the_group(server: ServerProcess, backing: Backing) -> Recovery:
    server.kill_group()
    return server.start


def cut_redis(server: ServerProcess, backing: Backing) -> Recovery:
    backing.redis.cut()
    return backing.redis.restore


def cut_postgres(server: ServerProcess, backing: Backing) -> Recovery:
    backing.database.cut()
    return backing.database.restore


@dataclass(frozen=True)
class Fault:
    strike: Callable[[ServerProcess, Backing], Recovery]
    """Strikes (outside the event loop), and returns what ends the fault."""
    told: frozenset[int | None]
    """What a client may be told: a status, or None for no answer (its connection broke)."""
    may_be_unsure: bool = False
    """Whether a client may be told an error for a reply that was stored: only when the
    database goes away during the reply's commit, which replyd then cannot know."""


KILLED = frozenset({200, None})
UNAVAILABLE = frozenset({200, 503})
FAULTS = {
    "SIGKILL one worker": Fault(kill_a_worker, KILLED),
    "SIGKILL the parent": Fault(kill_the_parent, KILLED),
    "SIGKILL the process group": Fault(kill_the_group, KILLED),
    "Redis away": Fault(cut_redis, UNAVAILABLE),
    "PostgreSQL away": Fault(cut_postgres, UNAVAILABLE, may_be_unsure=True),
}


@pytest.fixture(scope="module")
def backing(postgres_url: str, redis_url: str) -> Iterator[Backing]:
    found = Backing(TcpProxy(postgres_url), TcpProxy(redis_url))
    yield found
    found.database.close()
    found.redis.close()


@pytest.fixture(scope="module")
def load_server(server_env: dict[str, str], backing: Backing, log_dir: Path) -> Iterator[ServerProcess]:
    """Two workers, with replyd's own leases and waits (the other tests shorten them): a crash
    must cost a retry seconds, as it does in production."""
    env = {name: value for name, value in server_env.items() if name not in SHORTENED}
    env |= {"REPLYD_DATABASE_URL": backing.database.url, "REPLYD_REDIS_URL": backing.redis.url}
    server = ServerProcess("load", env, log_dir, workers=2)
    yield server
    stop_all([server])


SHORTENED = {"REPLYD_LOCK_LEASE_S", "REPLYD_IDEMPOTENCY_WAIT_S", "REPLYD_MODEL_RETRIES"}


@pytest.fixture
def serving(load_server: ServerProcess, backing: Backing) -> ServerProcess:
    """The server, running and able to reach both services, whatever the test before it did."""
    backing.database.restore()
    backing.redis.restore()
    if not load_server.is_running:
        load_server.start()
    return load_server


@pytest.mark.parametrize("scenario", list(FAULTS))
async def test_a_fault_mid_load_loses_no_message_and_charges_each_answer_once(
    scenario: str,
    serving: ServerProcess,
    backing: Backing,
    make_tenant: Callable[..., Any],
    client_for: ClientFor,
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
    figures: list[Figures],
) -> None:
    fault = FAULTS[scenario]
    tenant: Tenant = await make_tenant(base_url=serving.url)
    stub_model.rule = lambda payload: Scripted(delay_s=MODEL_DELAY_S)
    slug = scenario.lower().replace(" ", "-")
    load = Load.of(client_for(serving.url, tenant), tenant.assistant_id, slug, CUSTOMERS, MESSAGES)
    before = await snapshot(tenant.account_id)

    talking = asyncio.create_task(load.until_first_failure())
    await load.reached_fault_point()
    recover = await asyncio.to_thread(fault.strike, serving, backing)
    await talking  # every customer has finished, or met the fault
    load.assert_told_matches_stored(await load.stored(db))
    struck = load.figures(scenario, faults=1)
    await asyncio.to_thread(recover)
    await load.to_the_end()

    load.assert_all_answered_once(await load.stored(db))
    assert struck.refused + struck.cut_off > 0, "the fault struck no request"
    assert {told.status for told in load.told} <= fault.told, [told for told in load.told if told.status != 200]
    assert all(told.body["error_code"] == "SERVICE_UNAVAILABLE" for told in load.told if told.status == 503)
    assert load.unsure == [] or fault.may_be_unsure, load.unsure
    after = await snapshot(tenant.account_id)
    assert after.ledger_entries - before.ledger_entries == CUSTOMERS * MESSAGES
    assert before.balance_micros - after.balance_micros == CUSTOMERS * MESSAGES * FEE_MICROS
    await assert_consistent(db, snapshot, tenant.account_id)
    figures.append(load.figures(scenario, faults=1))


async def test_twenty_concurrent_replies_over_two_workers_never_overdraw_the_balance(
    serving: ServerProcess, make_tenant: Callable[..., Any], snapshot: Any, db: async_sessionmaker[AsyncSession]
) -> None:
    tenant: Tenant = await make_tenant(balance="0.05", reply_fee="0.01", base_url=serving.url)
    await assert_twenty_concurrent_replies_never_overdraw(tenant, snapshot, db)
