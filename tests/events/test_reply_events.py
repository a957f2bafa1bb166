"""Events of the reply path: what generate-reply stores is told to the account's endpoints in
the transaction that stores it (the customer's message, the AI's answer, a new conversation,
a handoff by the model or by a trigger, a function that failed, a balance gone low), checked
by a real receiver with the standardwebhooks library."""

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.events.types import EVENT_TYPES
from replyd.store import conversations
from tests.api.test_errors import assert_error, detail_fields
from tests.conftest import Tenant
from tests.events.test_events import subscribe
from tests.functions.test_function_calls import function
from tests.servers import EventReceiver, Scripted, StubModel, Webhook, eventually, serve_in_thread
from tests.statements import statements_starting


def types_of(inbox: EventReceiver) -> list[str]:
    return [payload["type"] for payload in inbox.payloads()]


async def test_a_reply_tells_of_the_new_conversation_and_both_messages_in_order(
    tenant: Tenant, stub_model: StubModel, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    await subscribe(tenant, inbox, url)
    stub_model.enqueue("We open at 9.", "Yes, on Saturdays too.")
    first = (await tenant.reply("When do you open?", customer="+4917000001", variables={"name": "Ida"})).json()
    await tenant.reply("Saturdays?", customer="+4917000001")

    await eventually(lambda: len(inbox.payloads()) == 5)
    assert types_of(inbox) == ["conversation.created", *["message.created"] * 4]
    created, *messages = [payload["data"] for payload in inbox.payloads()]
    conversation = {
        "id": first["conversation_id"],
        "assistant_id": tenant.assistant_id,
        "customer_identifier": "+4917000001",
        "type": "api",
        "ai_enabled": True,
        "variables": {"name": "Ida"},
    }
    assert created == {"conversation": conversation}
    said = [(m["message"]["author"], m["message"]["role"], m["message"]["content"]) for m in messages]
    assert said == [
        ("customer", "user", "When do you open?"),
        ("ai", "assistant", "We open at 9."),
        ("customer", "user", "Saturdays?"),
        ("ai", "assistant", "Yes, on Saturdays too."),
    ]
    assert all(m["conversation"] == conversation for m in messages)
    history = (await tenant.client.get(f"/api/conversations/{first['conversation_id']}")).json()["history"]
    told_at = [datetime.fromisoformat(m["message"]["created_at"]) for m in messages]
    assert told_at == [datetime.fromisoformat(item["created_at"]) for item in history], "told as stored"
    ids = [m["message"]["id"] for m in messages]
    assert ids == sorted(set(ids))
    assert inbox.unverified == 0


COUNTING = "UPDATE conversations SET message_count"
TELLING = "INSERT INTO events"
COUNTING_AND_TELLING = "WITH counted AS (UPDATE conversations"


async def test_a_messages_event_rides_on_its_count_on_postgresql_and_both_agree_with_what_is_stored(
    tenant: Tenant,
    stub_model: StubModel,
    receiver: tuple[EventReceiver, str],
    db: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """Telling of a message costs PostgreSQL no round trip of its own: the statement counting
    the message on its conversation writes the event too (a data-modifying WITH). SQLite,
    which has no such WITH, writes it apart. Either way the count, the cost and the events
    agree with the messages stored."""
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["message.created"])
    stub_model.enqueue("We open at 9.", "Yes, on Saturdays too.")
    first = (await tenant.reply("When do you open?", customer="+4917000002")).json()
    with statements_starting(COUNTING, TELLING, COUNTING_AND_TELLING) as seen:
        await tenant.reply("Saturdays?", customer="+4917000002")

    apart = [COUNTING, TELLING] * 2
    assert seen == ([COUNTING_AND_TELLING] * 2 if database_url.startswith("postgresql") else apart)
    await eventually(lambda: len(inbox.payloads()) == 4)
    async with db() as session:
        stored = await conversations.get_conversation(session, tenant.account_id, first["conversation_id"])
        messages = await conversations.newest_messages(session, first["conversation_id"], 10)
    assert stored is not None
    assert [payload["data"]["message"]["id"] for payload in inbox.payloads()] == [m.id for m in reversed(messages)]
    assert (stored.message_count, stored.total_cost_micros) == (4, sum(m.cost_micros or 0 for m in messages))
    assert stored.total_cost_micros > 0


async def test_an_endpoint_added_after_replies_started_gets_the_next_ones(
    tenant: Tenant, receiver: tuple[EventReceiver, str]
) -> None:
    """Every process caches what the account subscribes to; adding or removing an endpoint
    must reach the next reply all the same."""
    inbox, url = receiver
    assert (await tenant.reply("before", customer="c-1")).status_code == 200
    endpoint_id = await subscribe(tenant, inbox, url, ["message.created"])
    assert (await tenant.reply("after", customer="c-1")).status_code == 200
    await eventually(lambda: len(inbox.payloads()) == 2)
    assert [p["data"]["message"]["author"] for p in inbox.payloads()] == ["customer", "ai"]

    assert (await tenant.client.delete(f"/api/webhooks/{endpoint_id}")).status_code == 200
    assert (await tenant.reply("gone", customer="c-1")).status_code == 200
    other, other_url = EventReceiver(), ""
    with serve_in_thread(other.app()) as base:
        other_url = f"{base}/events"
        await subscribe(tenant, other, other_url, ["conversation.created"])
        assert (await tenant.reply("new customer", customer="c-2")).status_code == 200
        await eventually(lambda: len(other.payloads()) == 1)
    assert len(inbox.payloads()) == 2, "a removed endpoint got events"


async def test_the_models_handoff_is_told_with_its_reason_before_the_handoff_message(
    make_tenant: Any, stub_model: StubModel, receiver: tuple[EventReceiver, str]
) -> None:
    tenant: Tenant = await make_tenant(handoff_enabled=True, handoff_message="A colleague takes over.")
    inbox, url = receiver
    await subscribe(tenant, inbox, url)
    stub_model.enqueue(Scripted(tool_calls=[("handoff_to_human", {"reason": "asks for a refund"})]))
    answer = (await tenant.reply("I want my money back", customer="c-3")).json()
    assert (answer["reply"], answer["ai_disabled"]) == ("A colleague takes over.", True)

    await eventually(lambda: len(inbox.payloads()) == 4)
    assert types_of(inbox) == [
        "conversation.created",
        "message.created",
        "conversation.handoff_requested",
        "message.created",
    ]
    handoff = inbox.payloads("conversation.handoff_requested")[0]["data"]
    assert (handoff["by"], handoff["reason"]) == ("model", "asks for a refund")
    assert handoff["conversation"]["ai_enabled"] is False
    assert inbox.payloads()[-1]["data"]["message"]["content"] == "A colleague takes over."
    conversation = (await tenant.client.get(f"/api/conversations/{answer['conversation_id']}")).json()
    assert conversation["ai_disabled_by"] == "model" and conversation["needs_human"] is True
    assert conversation["ai_disabled_reason"] == "asks for a refund"


async def test_a_trigger_hands_off_before_the_model_is_called_and_charges_nothing(
    make_tenant: Any, stub_model: StubModel, receiver: tuple[EventReceiver, str]
) -> None:
    tenant: Tenant = await make_tenant(
        handoff_triggers=[r"\bhuman\b", "mitarbeiter"], handoff_message="Ein Kollege meldet sich gleich."
    )
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["conversation.handoff_requested"])
    before = (await tenant.client.get("/api/account")).json()["balance_micros"]
    assert (await tenant.reply("Is a humanoid robot answering?", customer="c-4")).json()["ai_disabled"] is False
    stub_model.requests.clear()

    answer = (await tenant.reply("Bitte einen MITARBEITER", customer="c-4")).json()
    assert (answer["reply"], answer["ai_disabled"]) == ("Ein Kollege meldet sich gleich.", True)
    assert stub_model.requests == []
    after = (await tenant.client.get("/api/account")).json()["balance_micros"]
    assert before - after == 10_000, "only the first (model) reply was charged"

    await eventually(lambda: len(inbox.payloads()) == 1)
    handoff = inbox.payloads()[0]["data"]
    assert handoff["by"] == "rule" and "mitarbeiter" in handoff["reason"]
    conversation = (await tenant.client.get(f"/api/conversations/{answer['conversation_id']}")).json()
    assert [(m["author"], m["content"]) for m in conversation["history"][-2:]] == [
        ("customer", "Bitte einen MITARBEITER"),
        ("ai", "Ein Kollege meldet sich gleich."),
    ]
    assert conversation["ai_disabled_by"] == "rule" and conversation["needs_human"] is True


async def test_a_trigger_that_is_no_regular_expression_is_refused(tenant: Tenant) -> None:
    response = await tenant.client.patch(
        f"/api/assistants/{tenant.assistant_id}", json={"handoff_triggers": ["agent", "(unclosed"]}
    )
    [problem] = assert_error(response, 422, "VALIDATION_ERROR")["details"]
    assert problem["field"] == "handoff_triggers" and "(unclosed" in problem["message"]


async def test_a_function_whose_webhook_fails_is_told(
    make_tenant: Any, stub_model: StubModel, receiver: tuple[EventReceiver, str]
) -> None:
    webhook = Webhook()
    with serve_in_thread(webhook.app()) as hook_url:
        tenant: Tenant = await make_tenant(functions=[function("book", f"{hook_url}/status/503")])
        webhook.trust(tenant.webhook_secret)
        inbox, url = receiver
        await subscribe(tenant, inbox, url, ["function.failed"])
        stub_model.enqueue(Scripted(tool_calls=[("book", {"day": "fri"})]), "Sorry, booking is down.")
        answer = (await tenant.reply("Book Friday", customer="c-5")).json()
    assert answer["reply"] == "Sorry, booking is down."

    await eventually(lambda: len(inbox.payloads()) == 1)
    data = inbox.payloads()[0]["data"]
    assert data["function"]["name"] == "book" and data["function"]["arguments"] == {"day": "fri"}
    assert "503" in data["function"]["error"]
    assert data["conversation"]["id"] == answer["conversation_id"]


async def test_the_charge_that_takes_the_balance_below_the_threshold_is_told_once(
    make_tenant: Any, receiver: tuple[EventReceiver, str]
) -> None:
    tenant: Tenant = await make_tenant(balance="0.05", reply_fee="0.01")
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["account.balance_low"])
    changed = await tenant.client.patch("/api/account", json={"balance_low_threshold": "0.035"})
    assert changed.status_code == 200 and changed.json()["balance_low_threshold"] == "0.035"

    for n in range(3):  # 0.04, 0.03 (crossing), 0.02
        assert (await tenant.reply(f"message {n}", customer="c-6")).status_code == 200
    await eventually(lambda: len(inbox.payloads()) == 1)
    account = inbox.payloads()[0]["data"]["account"]
    assert account == {
        "id": tenant.account_id,
        "currency": "EUR",
        "balance": "0.03",
        "balance_micros": 30_000,
        "threshold": "0.035",
        "threshold_micros": 35_000,
    }
    turned_off = await tenant.client.patch("/api/account", json={"balance_low_threshold": None})
    assert turned_off.json()["balance_low_threshold"] is None


async def test_a_threshold_that_is_no_amount_is_refused(tenant: Tenant) -> None:
    for bad in ("-1", "abc", "0", {"x": 1}):
        response = await tenant.client.patch("/api/account", json={"balance_low_threshold": bad})
        assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == ["balance_low_threshold"], bad
    assert_error(await tenant.client.patch("/api/account", json={"other": 1}), 422, "VALIDATION_ERROR")


def test_every_event_type_is_documented_with_an_example() -> None:
    documented = Path(__file__).parents[2].joinpath("docs/events.md").read_text()
    missing = [t for t in EVENT_TYPES if f"`{t}`" not in documented]
    assert missing == []
