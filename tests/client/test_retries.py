"""Retries over real connections: scripted answers (429, 409, a gateway's 503), a proxy that
drops the connection after replyd stored the reply, a failing model, a closed port."""

import socket
import uuid
from typing import Any

import pytest
from starlette.responses import JSONResponse, PlainTextResponse

from replyd.client import (
    AsyncReplydClient,
    LLMError,
    LLMRequestRejectedError,
    RateLimitedError,
    ReplydAPIError,
    ReplydConnectionError,
    RetryPolicy,
)
from tests.client.conftest import Connect
from tests.client.scripted import canned_server, dropping_proxy, envelope, reply_body
from tests.conftest import STUB_MODEL, Tenant
from tests.servers import Scripted, StubModel


async def test_a_rate_limited_reply_waits_retry_after_then_succeeds_with_the_same_key(
    connect: Connect, sleeps: list[float]
) -> None:
    with canned_server() as (canned, url):
        canned.enqueue(envelope(429, "RATE_LIMITED", {"Retry-After": "7"}), JSONResponse(reply_body("Hello!")))
        reply = await connect(url, "rpd_test").generate_reply(1, "c-1", "hi")
    assert reply.reply == "Hello!"
    assert sleeps == [7.0]
    first, second = canned.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert uuid.UUID(first.headers["idempotency-key"]).version == 4
    assert first.body == second.body


async def test_every_call_gets_its_own_key_unless_one_is_given(connect: Connect) -> None:
    with canned_server() as (canned, url):
        canned.enqueue(*(JSONResponse(reply_body()) for _ in range(3)))
        client = connect(url, "rpd_test")
        await client.generate_reply(1, "c-1", "hi")
        await client.generate_reply(1, "c-1", "hi")
        await client.generate_reply(1, "c-1", "hi", idempotency_key="msg-8841")
    keys = [seen.headers["idempotency-key"] for seen in canned.requests]
    assert keys[0] != keys[1] and keys[2] == "msg-8841"


async def test_a_request_still_in_progress_is_asked_again(connect: Connect, sleeps: list[float]) -> None:
    with canned_server() as (canned, url):
        canned.enqueue(envelope(409, "REQUEST_IN_PROGRESS"), JSONResponse({"status": True, **reply_body()}))
        reply = await connect(url, "rpd_test", retry=RetryPolicy(jitter=lambda: 1.0)).generate_reply(1, "c", "hi")
    assert reply.reply == "Scripted reply."
    assert sleeps == [0.5]


async def test_a_gateway_error_page_is_retried_for_a_read_but_not_for_a_create(connect: Connect) -> None:
    with canned_server() as (canned, url):
        page = PlainTextResponse("<html>Service Unavailable</html>", status_code=503)
        canned.enqueue(page, JSONResponse({"success": True, "data": []}), page)
        client = connect(url, "rpd_test")
        assert await client.list_assistants() == []
        with pytest.raises(ReplydAPIError) as raised:
            await client.create_assistant("Sales")
    assert type(raised.value) is ReplydAPIError
    assert (raised.value.status, raised.value.error_code) == (503, "HTTP_503")
    assert [seen.method for seen in canned.requests] == ["GET", "GET", "POST"]


async def test_a_reply_stored_before_the_connection_dropped_is_returned_by_the_retry(
    connect: Connect, tenant: Tenant, server: str, stub_model: StubModel, snapshot: Any, sleeps: list[float]
) -> None:
    before = await snapshot(tenant.account_id)
    stub_model.enqueue("Booked for Friday.")
    with dropping_proxy(server, drops=1) as (proxy, url):
        reply = await connect(url, tenant.token).generate_reply(tenant.assistant_id, "c-1", "Book me on Friday")
    assert reply.reply == "Booked for Friday."
    dropped, answered = proxy.answers
    assert dropped.status_code == answered.status_code == 200 and dropped.json() == answered.json()
    assert proxy.requests[0].headers["idempotency-key"] == proxy.requests[1].headers["idempotency-key"]
    assert len(sleeps) == 1 and len(stub_model.requests) == 1
    after = await snapshot(tenant.account_id)
    assert (after.conversations, after.messages) == (before.conversations + 1, before.messages + 2)
    assert after.ledger_entries == before.ledger_entries + 1
    assert after.balance_micros == after.ledger_sum_micros == before.balance_micros - 10_000


async def test_a_delete_that_worked_before_the_connection_dropped_succeeds_on_the_retry(
    connect: Connect, tenant: Tenant, server: str, snapshot: Any
) -> None:
    conversation_id = (
        await connect(server, tenant.token).generate_reply(tenant.assistant_id, "c-1", "hi")
    ).conversation_id
    with dropping_proxy(server, drops=1) as (proxy, url):
        await connect(url, tenant.token).delete_conversation(conversation_id)
    dropped, answered = proxy.answers
    assert dropped.status_code == answered.status_code == 200 and dropped.json() == answered.json()
    assert (await snapshot(tenant.account_id)).conversations == 0


async def test_a_message_stored_before_the_connection_dropped_is_returned_by_the_retry(
    connect: Connect, tenant: Tenant, server: str, stub_model: StubModel, snapshot: Any
) -> None:
    started = await connect(server, tenant.token).start_conversation(tenant.assistant_id)
    before = await snapshot(tenant.account_id)
    with dropping_proxy(server, drops=1) as (proxy, url):
        answer = await connect(url, tenant.token).send_message(started.conversation_id, "Still open?")
    assert answer.message == "echo: Still open?"
    assert len(proxy.requests) == 2 and len(stub_model.requests) == 1
    after = await snapshot(tenant.account_id)
    assert (after.messages, after.ledger_entries) == (before.messages + 2, before.ledger_entries + 1)


async def test_a_create_is_not_sent_twice_after_a_dropped_connection(
    connect: Connect, tenant: Tenant, server: str, sleeps: list[float]
) -> None:
    with dropping_proxy(server, drops=1) as (proxy, url), pytest.raises(ReplydConnectionError) as raised:
        await connect(url, tenant.token).create_assistant("Sales", model=STUB_MODEL)
    assert raised.value.__cause__ is not None
    assert len(proxy.requests) == 1 and sleeps == []
    names = [a.name for a in await connect(server, tenant.token).list_assistants()]
    assert names.count("Sales") == 1  # it was created: a blind retry would have made two


async def test_a_model_failure_is_retried_with_the_same_key(
    client: AsyncReplydClient, tenant: Tenant, stub_model: StubModel, snapshot: Any, sleeps: list[float]
) -> None:
    stub_model.enqueue(Scripted(status=500), "second try works")
    reply = await client.generate_reply(tenant.assistant_id, "c-1", "hi")
    assert reply.reply == "second try works"
    assert len(sleeps) == 1 and len(stub_model.requests) == 2
    assert (await snapshot(tenant.account_id)).messages == 2


async def test_a_request_the_model_provider_refuses_is_not_retried(
    client: AsyncReplydClient, tenant: Tenant, stub_model: StubModel, snapshot: Any, sleeps: list[float]
) -> None:
    before = await snapshot(tenant.account_id)
    stub_model.enqueue(Scripted(status=400), "never asked")
    with pytest.raises(LLMRequestRejectedError) as raised:
        await client.generate_reply(tenant.assistant_id, "c-1", "hi")
    assert (raised.value.status, raised.value.error_code) == (502, "LLM_REQUEST_REJECTED")
    assert len(stub_model.requests) == 1 and sleeps == []
    after = await snapshot(tenant.account_id)  # the message kept, unanswered; nothing charged
    assert (after.messages, after.ledger_entries) == (before.messages + 1, before.ledger_entries)


async def test_retries_stop_after_max_attempts_with_the_last_error(
    connect: Connect, tenant: Tenant, server: str, stub_model: StubModel, sleeps: list[float]
) -> None:
    stub_model.enqueue(Scripted(status=500), Scripted(status=500))
    client = connect(server, tenant.token, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(LLMError) as raised:
        await client.generate_reply(tenant.assistant_id, "c-1", "hi")
    assert (raised.value.status, raised.value.error_code) == (502, "LLM_ERROR")
    assert len(stub_model.requests) == 2 and len(sleeps) == 1


async def test_a_retry_after_beyond_the_deadline_raises_at_once(
    connect: Connect, make_tenant: Any, server: str, sleeps: list[float]
) -> None:
    limited: Tenant = await make_tenant(rate_limit="1/minute")
    client = connect(server, limited.token, retry=RetryPolicy(deadline_s=5))
    await client.generate_reply(limited.assistant_id, "c-1", "hi")
    with pytest.raises(RateLimitedError) as raised:
        await client.generate_reply(limited.assistant_id, "c-1", "again")
    assert raised.value.retry_after_s is not None and raised.value.retry_after_s > 5
    assert sleeps == []


async def test_a_closed_port_is_retried_even_for_a_create_then_raises_a_connection_error(
    connect: Connect, sleeps: list[float]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = connect(f"http://127.0.0.1:{port}", "rpd_test", retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ReplydConnectionError):
        await client.create_assistant("Sales")
    assert len(sleeps) == 2
