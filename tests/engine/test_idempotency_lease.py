"""A request holding an Idempotency-Key renews its claim however long it runs, so a retry never
takes it over and runs the message twice; a claim left by a dead process is taken over."""

import asyncio
from typing import Any

import pytest

from replyd.engine.idempotency import IdempotencyClaims, IdempotencyKey
from replyd.errors import RequestInProgress
from tests.conftest import Tenant

LEASE_S = 0.3


async def test_a_long_running_claim_is_renewed_and_never_taken_over(
    make_tenant: Any, db: Any, make_settings: Any
) -> None:
    tenant: Tenant = await make_tenant()
    claims = IdempotencyClaims(db, make_settings(idempotency_wait_s=0, idempotency_lease_s=LEASE_S))
    key = IdempotencyKey("slow-one", "fingerprint")
    release = asyncio.Event()

    async def first_request() -> None:
        async with claims.claim(tenant.account_id, key) as claim:
            assert claim.key == key
            await release.wait()

    first = asyncio.create_task(first_request())
    await asyncio.sleep(LEASE_S * 4)  # several leases pass while the first still runs
    with pytest.raises(RequestInProgress):
        async with asyncio.timeout(5), claims.claim(tenant.account_id, key):  # a takeover would run here
            raise AssertionError("the running claim was taken over")
    release.set()
    await first


async def test_a_claim_nobody_renews_is_taken_over(make_tenant: Any, db: Any, make_settings: Any) -> None:
    tenant: Tenant = await make_tenant()
    key = IdempotencyKey("orphan", "fingerprint")
    dead = IdempotencyClaims(db, make_settings(idempotency_wait_s=0, idempotency_lease_s=3600))  # renews far too late
    started = asyncio.Event()

    async def hang() -> None:
        async with dead.claim(tenant.account_id, key):
            started.set()
            await asyncio.Event().wait()

    orphan = asyncio.create_task(hang())
    await started.wait()
    await asyncio.sleep(LEASE_S * 2)
    alive = IdempotencyClaims(db, make_settings(idempotency_wait_s=0, idempotency_lease_s=LEASE_S))
    async with alive.claim(tenant.account_id, key) as claim:
        assert claim.key == key and claim.answer is None
    orphan.cancel()
