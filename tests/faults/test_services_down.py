"""Redis out of reach (a stopped server, behind a TCP proxy that the test cuts): requests are
refused with 503 SERVICE_UNAVAILABLE and change nothing, and a reply that was already stored
when Redis went away is answered as the success it was."""

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.servers import Scripted, StubModel, TcpProxy


@pytest.fixture
async def tenant_via_proxy(
    start_server: Callable[..., AbstractContextManager[str]], redis_proxy: TcpProxy, make_tenant: Callable[..., Any]
) -> AsyncIterator[Tenant]:
    """A tenant of a server whose way to Redis goes through ``redis_proxy``."""
    with start_server(redis_url=redis_proxy.url, lock_lease_s=1) as url:
        yield await make_tenant(base_url=url)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {
        "success": False,
        "error": "The service is temporarily unavailable; please retry in 5 seconds.",
        "error_code": "SERVICE_UNAVAILABLE",
    }
    assert response.headers["retry-after"] == "5"


async def test_redis_out_of_reach_is_service_unavailable_and_changes_nothing(
    tenant_via_proxy: Tenant, redis_proxy: TcpProxy, snapshot: Any, stub_model: StubModel
) -> None:
    tenant = tenant_via_proxy
    before = await snapshot(tenant.account_id)
    redis_proxy.cut()

    assert_unavailable(await tenant.reply("Hello?"))
    assert await snapshot(tenant.account_id) == before
    assert stub_model.requests == []


async def test_a_reply_stored_before_redis_went_away_is_answered_and_the_next_is_refused(
    tenant_via_proxy: Tenant, redis_proxy: TcpProxy, snapshot: Any, stub_model: StubModel
) -> None:
    tenant = tenant_via_proxy
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="Stored before Redis went away.", gate=gate))
    in_flight = asyncio.create_task(tenant.reply("First"))
    await asyncio.to_thread(stub_model.wait_for_request)  # the conversation's lock is held now
    redis_proxy.cut()
    gate.set()

    answered = await in_flight
    assert answered.status_code == 200, answered.text
    assert answered.json()["reply"] == "Stored before Redis went away."
    stored = await snapshot(tenant.account_id)
    assert (stored.messages, stored.ledger_entries) == (2, 2)  # the top-up and the reply's charge

    assert_unavailable(await tenant.reply("Second"))
    assert await snapshot(tenant.account_id) == stored
