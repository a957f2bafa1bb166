"""The customer's message is stored before the model is called: visible while the model thinks,
kept (unanswered, with the error, uncharged) when the model fails, and answered once when the
client retries."""

import asyncio
import threading
from typing import Any

from tests.api.test_errors import assert_error
from tests.conftest import Tenant
from tests.servers import Scripted, StubModel

ROUTE = "/api/ai/generate-reply"


async def history(tenant: Tenant, conversation_id: str) -> list[dict[str, Any]]:
    response = await tenant.client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["history"]
    return items


async def conversation_of(tenant: Tenant, customer: str) -> str:
    listed = await tenant.client.get("/api/user/conversations", params={"external_identifier": customer})
    return str(listed.json()["data"][0]["id"])


async def test_the_message_is_in_the_history_while_the_model_thinks(tenant: Tenant, stub_model: StubModel) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="Yes, we are open.", gate=gate))
    reply = asyncio.create_task(tenant.reply("Are you open on Saturday?", customer="c-slow"))
    await asyncio.to_thread(stub_model.wait_for_request)
    conversation_id = await conversation_of(tenant, "c-slow")
    while_thinking = await history(tenant, conversation_id)
    gate.set()
    assert (await reply).status_code == 200
    assert [(m["author"], m["content"], m["reply_status"]) for m in while_thinking] == [
        ("customer", "Are you open on Saturday?", "pending")
    ]
    assert [(m["author"], m["reply_status"]) for m in await history(tenant, conversation_id)] == [
        ("customer", "answered"),
        ("ai", None),
    ]


async def test_a_failed_model_call_keeps_the_message_and_charges_nothing(
    tenant: Tenant, stub_model: StubModel, snapshot: Any
) -> None:
    before = await snapshot(tenant.account_id)
    stub_model.enqueue(Scripted(status=500))
    assert_error(await tenant.reply("Where is my order?", customer="c-fail"), 502, "LLM_ERROR")
    after = await snapshot(tenant.account_id)
    assert (after.conversations, after.messages) == (before.conversations + 1, before.messages + 1)
    assert (after.balance_micros, after.ledger_entries) == (before.balance_micros, before.ledger_entries)
    [message] = await history(tenant, await conversation_of(tenant, "c-fail"))
    assert (message["content"], message["reply_status"]) == ("Where is my order?", "failed")
    assert message["reply_error"]


async def test_resending_the_failed_message_answers_it_once(
    tenant: Tenant, stub_model: StubModel, snapshot: Any
) -> None:
    stub_model.enqueue(Scripted(status=500), "It ships tomorrow.")
    assert_error(await tenant.reply("Where is my order?", customer="c-retry"), 502, "LLM_ERROR")
    before = await snapshot(tenant.account_id)
    retried = await tenant.reply("Where is my order?", customer="c-retry")
    assert retried.json()["reply"] == "It ships tomorrow."
    after = await snapshot(tenant.account_id)
    assert after.messages == before.messages + 1  # the reply only: the message was not stored twice
    assert after.ledger_entries == before.ledger_entries + 1
    items = await history(tenant, retried.json()["conversation_id"])
    assert [(m["author"], m["content"], m["reply_status"]) for m in items] == [
        ("customer", "Where is my order?", "answered"),
        ("ai", "It ships tomorrow.", None),
    ]
    prompt = [m["content"] for m in stub_model.requests[-1]["messages"] if m["role"] != "system"]
    assert prompt == ["Where is my order?"]  # the model sees the message once, as the new one


async def test_a_retry_with_the_same_idempotency_key_answers_the_failed_message(
    tenant: Tenant, stub_model: StubModel, snapshot: Any
) -> None:
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": "c-key", "message": "Cancel my order"}
    headers = {"Idempotency-Key": "cancel-1"}
    stub_model.enqueue(Scripted(status=500), "Cancelled.")
    assert_error(await tenant.client.post(ROUTE, json=body, headers=headers), 502, "LLM_ERROR")
    first = await tenant.client.post(ROUTE, json=body, headers=headers)
    again = await tenant.client.post(ROUTE, json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["reply"] == "Cancelled."
    items = await history(tenant, first.json()["conversation_id"])
    assert [(m["author"], m["reply_status"]) for m in items] == [("customer", "answered"), ("ai", None)]
    assert len(stub_model.requests) == 2


async def test_another_message_after_a_failure_leaves_the_failed_one_unanswered(
    tenant: Tenant, stub_model: StubModel
) -> None:
    stub_model.enqueue(Scripted(status=500), "Hello!")
    assert_error(await tenant.reply("first try", customer="c-next"), 502, "LLM_ERROR")
    reply = await tenant.reply("anyone there?", customer="c-next")
    items = await history(tenant, reply.json()["conversation_id"])
    assert [(m["content"], m["reply_status"]) for m in items] == [
        ("first try", "failed"),
        ("anyone there?", "answered"),
        ("Hello!", None),
    ]
    prompt = [m["content"] for m in stub_model.requests[-1]["messages"] if m["role"] != "system"]
    assert prompt == ["first try", "anyone there?"]


async def test_an_answered_message_sent_again_is_a_new_message(tenant: Tenant, stub_model: StubModel) -> None:
    stub_model.enqueue("Hi!", "Hi again!")
    await tenant.reply("hello", customer="c-twice")
    reply = await tenant.reply("hello", customer="c-twice")
    items = await history(tenant, reply.json()["conversation_id"])
    assert [(m["content"], m["reply_status"]) for m in items] == [
        ("hello", "answered"),
        ("Hi!", None),
        ("hello", "answered"),
        ("Hi again!", None),
    ]
