"""replyd's container image as a deployment runs it: two replicas of two workers each on the
host's network, one PostgreSQL and one Redis, the test's stub model. One replica is killed with
SIGKILL mid-load; no message is lost, and a scrape of either replica counts all its workers'
replies. Built and run by tests/container/run.sh."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import RUN_PREFIX, Tenant
from tests.container.conftest import FLAGS, IMAGE, podman
from tests.processes import FEE_MICROS, ROUTE, assert_consistent, free_port
from tests.servers import Scripted, StubModel
from tests.test_telemetry import scrapes_once_settled

STARTUP_TIMEOUT_S = 180.0
"""Each worker loads the embedded model before it answers; four of them share 2 cores here."""
CUSTOMERS = 6
MESSAGES = 5
KILL_AFTER = 8
"""Replies answered before replica a is killed: the load is well under way, replies in flight."""
ATTEMPTS = 6


@dataclass
class Replica:
    """One container running ``replyd serve`` (the image's default command) on a port of its own."""

    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, env: dict[str, str]) -> None:
        pairs = env | {"PORT": str(self.port)}
        settings = [arg for name, value in pairs.items() for arg in ("-e", f"{name}={value}")]
        podman("run", "--detach", "--name", self.name, *FLAGS, *settings, IMAGE)

    def wait_until_ready(self) -> None:
        """Poll /readyz until it answers 200; fail at once if the container has stopped."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with httpx.Client(trust_env=False, timeout=2) as client:
            while time.monotonic() < deadline:
                assert podman("inspect", "--format", "{{.State.Running}}", self.name) == "true", self.logs()
                try:
                    if client.get(self.url + "/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise AssertionError(f"{self.name} did not get ready:\n{self.logs()}")

    def logs(self) -> str:
        return podman("logs", "--tail", "40", self.name)


@pytest.fixture
def replicas(database_url: str, redis_url: str, stub_model: StubModel) -> Iterator[tuple[Replica, Replica]]:
    run = uuid.uuid4().hex[:8]
    env = {
        "REPLYD_DATABASE_URL": database_url,
        "REPLYD_REDIS_URL": redis_url,
        "REPLYD_REDIS_KEY_PREFIX": f"{RUN_PREFIX}-image",
        "REPLYD_OPENAI_BASE_URL": stub_model.base_url,  # type: ignore[attr-defined]
        "REPLYD_OPENAI_API_KEY": "k",
        "REPLYD_MODEL_RETRIES": "0",
        "REPLYD_RATE_LIMIT": "1000/minute",
        "REPLYD_LOCK_LEASE_S": "2",
        "REPLYD_IDEMPOTENCY_LEASE_S": "2",
        "REPLYD_WORKERS": "2",
    }
    pair = (Replica(f"replyd-test-{run}-a", free_port()), Replica(f"replyd-test-{run}-b", free_port()))
    try:
        for replica in pair:
            replica.run(env)
        for replica in pair:
            replica.wait_until_ready()
        yield pair
    finally:
        for replica in pair:
            podman("rm", "--force", "--time", "0", replica.name)


def test_the_image_runs_as_a_user_and_checks_its_readiness() -> None:
    if not IMAGE:
        pytest.skip("needs a replyd image: tests/container/run.sh builds one and runs these tests")
    assert podman("image", "inspect", "--format", "{{.Config.User}}", IMAGE) == "10001"
    assert "/readyz" in podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", IMAGE)


async def test_two_replicas_lose_nothing_when_one_is_killed_mid_load_and_each_counts_its_workers(
    replicas: tuple[Replica, Replica],
    make_tenant: Callable[..., Any],
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    a, b = replicas
    for replica in replicas:
        podman("healthcheck", "run", replica.name)  # the image's HEALTHCHECK passes
    tenant: Tenant = await make_tenant()
    stub_model.rule = lambda payload: Scripted(delay_s=0.3)
    before = await snapshot(tenant.account_id)
    answered_by: Counter[str] = Counter()
    broken = 0  # requests whose connection broke, or found no server, and went to the other replica
    enough = asyncio.Event()
    headers = {"Authorization": f"Bearer {tenant.token}"}
    clients = [httpx.AsyncClient(base_url=r.url, headers=headers, timeout=60, trust_env=False) for r in replicas]

    async def answer(customer: int, message: int) -> None:
        """Sent to one replica, and to the other with the same Idempotency-Key if its
        connection breaks, as a client behind a load balancer retries."""
        nonlocal broken
        body = {"assistant_id": tenant.assistant_id, "customer_identifier": f"+49{customer}", "message": f"m{message}"}
        key = f"{customer}-{message}"
        for attempt in range(ATTEMPTS):
            index = (customer + message + attempt) % 2
            try:
                reply = await clients[index].post(ROUTE, json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                broken += 1
                continue
            assert reply.status_code == 200, reply.text
            answered_by[replicas[index].name] += 1
            if answered_by.total() >= KILL_AFTER:
                enough.set()
            return
        raise AssertionError(f"message {key} was never answered")

    async def customer_talks(customer: int) -> None:
        for message in range(MESSAGES):
            await answer(customer, message)

    async def kill_a() -> None:
        await enough.wait()
        await asyncio.to_thread(podman, "kill", "--signal", "KILL", a.name)

    try:
        await asyncio.gather(kill_a(), *(customer_talks(c) for c in range(CUSTOMERS)))
    finally:
        for client in clients:
            await client.aclose()

    assert broken > 0, "the kill struck no request"
    total = CUSTOMERS * MESSAGES
    after = await snapshot(tenant.account_id)
    assert (after.messages - before.messages, after.ledger_entries - before.ledger_entries) == (2 * total, total)
    assert before.balance_micros - after.balance_micros == total * FEE_MICROS
    await assert_consistent(db, snapshot, tenant.account_id)
    assert await scrapes_once_settled(b.url, answered_by[b.name]) == [answered_by[b.name]] * 6

    podman("start", a.name)  # the killed replica comes back, counting afresh
    await asyncio.to_thread(a.wait_until_ready)
    async with httpx.AsyncClient(base_url=a.url, headers=headers, timeout=60, trust_env=False) as client:
        for n in range(6):
            body = {"assistant_id": tenant.assistant_id, "customer_identifier": f"+4977{n}", "message": "back?"}
            assert (await client.post(ROUTE, json=body)).status_code == 200
    assert await scrapes_once_settled(a.url, 6) == [6] * 6


async def test_sigterm_lets_a_reply_in_flight_finish_before_the_container_exits(
    replicas: tuple[Replica, Replica], make_tenant: Callable[..., Any], stub_model: StubModel
) -> None:
    a, _ = replicas
    tenant: Tenant = await make_tenant(base_url=a.url)
    stub_model.rule = lambda payload: Scripted(delay_s=3)
    in_flight = asyncio.create_task(tenant.reply("still there?"))
    await asyncio.to_thread(stub_model.wait_for_request)
    await asyncio.to_thread(podman, "stop", "--time", "60", a.name)
    assert (await in_flight).status_code == 200
    assert podman("inspect", "--format", "{{.State.ExitCode}}", a.name) == "0"
