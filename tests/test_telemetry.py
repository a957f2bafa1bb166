"""Metrics across the workers of ``replyd serve --workers N``: one scrape of any worker counts
the replies of all of them (prometheus-client's multiprocess mode, see replyd/telemetry.py)."""

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import Tenant
from tests.processes import ROUTE, ServerProcess
from tests.servers import StubModel

ROUNDS = 10
REPLIES_PER_ROUND = 8
SETTLE_S = 10.0
ANSWERED = re.compile(
    r'^replyd_http_requests_total\{method="POST",route="/api/ai/generate-reply",status="200"\} (\S+)$'
)


def answered_in(metrics: str) -> int:
    """The generate-reply calls answered 200 that a Prometheus text page counts."""
    found = [float(m[1]) for line in metrics.splitlines() if (m := ANSWERED.match(line))]
    return int(sum(found))


async def scrape(url: str) -> int:
    """Generate-reply calls answered 200, as one scrape of /metrics counts them, on a new
    connection: whichever worker accepts it answers."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        return answered_in((await client.get("/metrics")).text)


async def scrapes_once_settled(url: str, expected: int, scrapes: int = 6) -> list[int]:
    """What ``scrapes`` scrapes count, once one has counted ``expected``: a request is counted
    just after its answer has gone out, so the last ones may still be on their way."""
    deadline = time.monotonic() + SETTLE_S
    while await scrape(url) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return [await scrape(url) for _ in range(scrapes)]


def answered_by_worker(tmp: Path, pids: list[int]) -> dict[int, int]:
    """What each worker wrote to the group's metric files: its own generate-reply calls answered 200."""
    counts = {}
    for pid in pids:
        files = [str(path) for path in tmp.glob(f"replyd-metrics-*/counter_{pid}.db")]
        samples = [sample for metric in MultiProcessCollector.merge(files) for sample in metric.samples]
        counts[pid] = int(
            sum(
                sample.value
                for sample in samples
                if sample.name == "replyd_http_requests_total"
                and (sample.labels["method"], sample.labels["route"], sample.labels["status"]) == ("POST", ROUTE, "200")
            )
        )
    return counts


async def test_a_scrape_of_any_worker_counts_the_replies_of_all_workers(
    database_url: str,
    stub_model: StubModel,
    serve_env: dict[str, str],
    tmp_path: Path,
    stopped_after: list[ServerProcess],
    make_tenant: Callable[..., Any],
) -> None:
    tmp = tmp_path / "tmp"  # where `serve` makes its metrics directory, for the test to read
    tmp.mkdir()
    env = serve_env | {
        "TMPDIR": str(tmp),
        "REPLYD_DATABASE_URL": database_url,
        "REPLYD_OPENAI_BASE_URL": stub_model.base_url,  # type: ignore[attr-defined]
        "REPLYD_OPENAI_API_KEY": "k",
    }
    server = ServerProcess("workers", env, tmp_path, workers=2)
    stopped_after.append(server)
    await asyncio.to_thread(server.start)
    tenant: Tenant = await make_tenant(base_url=server.url, rate_limit="1000/minute")
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": "", "message": "hi"}
    headers = {"Authorization": f"Bearer {tenant.token}"}

    async def reply(customer: str) -> None:
        """On a connection of its own, which either worker may accept."""
        async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=60) as client:
            answer = await client.post(ROUTE, json=body | {"customer_identifier": customer}, headers=headers)
            assert answer.status_code == 200, answer.text

    sent = 0
    for _ in range(ROUNDS):  # until both workers have answered some (the kernel picks who accepts)
        await asyncio.gather(*(reply(f"+49155{sent + n}") for n in range(REPLIES_PER_ROUND)))
        sent += REPLIES_PER_ROUND
        by_worker = answered_by_worker(tmp, server.worker_pids())
        if all(by_worker.values()):
            break
    assert len(by_worker) == 2 and all(by_worker.values()), by_worker

    assert await scrapes_once_settled(server.url, sent) == [sent] * 6
    assert sum(answered_by_worker(tmp, server.worker_pids()).values()) == sent
