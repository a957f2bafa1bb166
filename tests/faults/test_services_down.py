"""Redis or PostgreSQL out of reach (a stopped server, behind a TCP proxy that the test cuts):
requests are refused with 503 SERVICE_UNAVAILABLE and change nothing, a reply that was already
stored when Redis went away is answered as the success it was, and once the database is back a
retry answers the message its outage left unanswered, charging it once."""

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.processes import send
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


async def assert_unavailable_until_restored(
    tenant: Tenant, proxy: TcpProxy, snapshot: Any, stub_model: StubModel
) -> None:
    """While ``proxy`` is cut a reply is refused with 503 and changes nothing; once it is
    restored, every reply is answered, however many connections the server had pooled (the
    cut broke each of them)."""
    await replies_at_once(tenant, "Hello")  # the server pools a connection for each
    before = await snapshot(tenant.account_id)
    stub_model.reset()
    proxy.cut()

    assert_unavailable(await tenant.reply("Still there?"))
    assert await snapshot(tenant.account_id) == before
    assert stub_model.requests == []

    proxy.restore()
    again = await replies_at_once(tenant, "Still there?")
    assert [answer.status_code for answer in again] == [200] * len(again), [answer.text for answer in again]
    assert again[0].json()["reply"] == "echo: Still there?"


async def replies_at_once(tenant: Tenant, message: str, customers: int = 8) -> list[httpx.Response]:
    """``message`` from several customers at once."""
    return await asyncio.gather(*(tenant.reply(message, customer=f"+4915555{n:04d}") for n in range(customers)))


async def cut_while_the_model_thinks(
    sending: Coroutine[Any, Any, httpx.Response], proxy: TcpProxy, stub_model: StubModel, answer: Scripted
) -> httpx.Response:
    """Send; once the model is asked (the message is stored, the conversation's lock held), cut
    ``proxy``; then let the model give ``answer``, and return what the client is told."""
    answer.gate = threading.Event()
    stub_model.enqueue(answer)
    in_flight = asyncio.create_task(sending)
    await asyncio.to_thread(stub_model.wait_for_request)
    proxy.cut()
    answer.gate.set()
    return await in_flight


async def test_redis_out_of_reach_is_service_unavailable_and_changes_nothing_until_it_is_back(
    tenant_via_proxy: Tenant, redis_proxy: TcpProxy, snapshot: Any, stub_model: StubModel
) -> None:
    await assert_unavailable_until_restored(tenant_via_proxy, redis_proxy, snapshot, stub_model)


async def test_a_reply_stored_before_redis_went_away_is_answered_and_the_next_is_refused(
    tenant_via_proxy: Tenant, redis_proxy: TcpProxy, snapshot: Any, stub_model: StubModel
) -> None:
    tenant = tenant_via_proxy
    answered = await cut_while_the_model_thinks(
        tenant.reply("First"), redis_proxy, stub_model, Scripted(text="Stored before Redis went away.")
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["reply"] == "Stored before Redis went away."
    stored = await snapshot(tenant.account_id)
    assert (stored.messages, stored.ledger_entries) == (2, 2)  # the top-up and the reply's charge

    assert_unavailable(await tenant.reply("Second"))
    assert await snapshot(tenant.account_id) == stored


CUSTOMER = "+49155551234"


@pytest.fixture
def database_proxy(postgres_url: str) -> Iterator[TcpProxy]:
    """A way to the test database that the test can cut, as if PostgreSQL stopped."""
    proxy = TcpProxy(postgres_url)
    yield proxy
    proxy.close()


@pytest.fixture
async def tenant_via_database_proxy(
    start_server: Callable[..., AbstractContextManager[str]],
    database_proxy: TcpProxy,
    make_tenant: Callable[..., Any],
    stub_model: StubModel,
) -> AsyncIterator[Tenant]:
    """A tenant of a server whose way to its database goes through ``database_proxy``, which
    has answered once (its token is cached, its connection pooled). A key whose request failed
    with the database away is not released: its lease runs out, here in a second."""
    with start_server(database_url=database_proxy.url, idempotency_lease_s=1) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        assert (await tenant.reply("Hello")).status_code == 200
        stub_model.reset()
        yield tenant


async def test_postgresql_out_of_reach_is_service_unavailable_and_changes_nothing_until_it_is_back(
    tenant_via_database_proxy: Tenant, database_proxy: TcpProxy, snapshot: Any, stub_model: StubModel
) -> None:
    await assert_unavailable_until_restored(tenant_via_database_proxy, database_proxy, snapshot, stub_model)


async def test_a_reply_whose_database_went_away_while_the_model_thought_is_answered_once_on_retry(
    tenant_via_database_proxy: Tenant, database_proxy: TcpProxy, snapshot: Any, stub_model: StubModel
) -> None:
    tenant = tenant_via_database_proxy
    before = await snapshot(tenant.account_id)
    sending = send(tenant.client, tenant, "Book me in", CUSTOMER, key="book-1")

    assert_unavailable(await cut_while_the_model_thinks(sending, database_proxy, stub_model, Scripted()))
    kept = await snapshot(tenant.account_id)
    assert kept.messages == before.messages + 1  # the customer's message, unanswered
    assert (kept.balance_micros, kept.ledger_entries) == (before.balance_micros, before.ledger_entries)

    database_proxy.restore()
    retried = await send(tenant.client, tenant, "Book me in", CUSTOMER, key="book-1")
    assert retried.status_code == 200, retried.text
    assert retried.json()["reply"] == "echo: Book me in"
    after = await snapshot(tenant.account_id)
    assert (after.messages, after.ledger_entries) == (before.messages + 2, before.ledger_entries + 1)
    assert after.balance_micros == after.ledger_sum_micros
