"""A request holding an Idempotency-Key renews its claim however long it runs, so a retry never
takes it over and runs the message twice; a claim left by a dead process is taken over."""

import asyncio
from typing import Any

import pytest

from replyd.engine.idempotency import IdempotentRunner
from replyd.engine.reply import IdempotencyKey, ReplyResult
from replyd.errors import RequestInProgress
from tests.conftest import Tenant

LEASE_S = 0.3


async def test_a_long_running_claim_is_renewed_and_never_taken_over(
    make_tenant: Any, db: Any, make_settings: Any
) -> None:
    tenant: Tenant = await make_tenant()
    runner = IdempotentRunner(db, make_settings(idempotency_wait_s=0), lease_s=LEASE_S)
    key = IdempotencyKey("slow-one", "fingerprint")
    release, calls = asyncio.Event(), []

    async def reply(_: IdempotencyKey | None) -> ReplyResult:
        calls.append(1)
        await release.wait()
        return ReplyResult("conversation", "customer", "done", False)

    first = asyncio.create_task(runner.run(tenant.account_id, key, reply))
    await asyncio.sleep(LEASE_S * 4)  # several leases pass while the first still runs
    with pytest.raises(RequestInProgress):
        async with asyncio.timeout(5):  # a takeover would run the reply again and wait here
            await runner.run(tenant.account_id, key, reply)
    release.set()
    assert (await first).reply == "done"
    assert calls == [1]


async def test_a_claim_nobody_renews_is_taken_over(make_tenant: Any, db: Any, make_settings: Any) -> None:
    tenant: Tenant = await make_tenant()
    settings = make_settings(idempotency_wait_s=0)
    key = IdempotencyKey("orphan", "fingerprint")
    dead = IdempotentRunner(db, settings, lease_s=3600)  # renews far too late: as good as dead
    started = asyncio.Event()

    async def hang(_: IdempotencyKey | None) -> ReplyResult:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    orphan = asyncio.create_task(dead.run(tenant.account_id, key, hang))
    await started.wait()
    await asyncio.sleep(LEASE_S * 2)

    async def reply(_: IdempotencyKey | None) -> ReplyResult:
        return ReplyResult("conversation", "customer", "retried", False)

    assert (await IdempotentRunner(db, settings, lease_s=LEASE_S).run(tenant.account_id, key, reply)).reply == "retried"
    orphan.cancel()
