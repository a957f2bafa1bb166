"""generate-reply over real HTTP: the success contract, memory, variables, takeover, money."""

import asyncio
import threading
from typing import Any

from sqlalchemy import update

from replyd.providers.base import ESTIMATE, ChatMessage, prompt_tokens
from replyd.store.tables import Conversation
from tests.conftest import Tenant
from tests.engine.test_long_conversations import is_summary
from tests.servers import Scripted, StubModel

RESPONSE_FIELDS = {"success", "conversation_id", "customer_identifier", "reply", "function_calls", "ai_disabled"}


def system_prompt(request: dict[str, Any]) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "system")


async def test_reply_has_exactly_the_contract_fields(tenant: Tenant, stub_model: StubModel) -> None:
    stub_model.enqueue("Hi John! What day works best for you?")
    response = await tenant.reply("I want an appointment", customer="+49155551234")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == RESPONSE_FIELDS
    assert body["success"] is True
    assert body["customer_identifier"] == "+49155551234"
    assert body["reply"] == "Hi John! What day works best for you?"
    assert body["function_calls"] == []
    assert body["ai_disabled"] is False
    assert len(body["conversation_id"]) == 36


async def test_second_message_sees_the_first_exchange(tenant: Tenant, stub_model: StubModel) -> None:
    stub_model.enqueue("Nice to meet you, Anna.", "You are Anna.")
    first = (await tenant.reply("My name is Anna")).json()
    second = (await tenant.reply("What is my name?")).json()
    assert first["conversation_id"] == second["conversation_id"]
    turns = [(m["role"], m["content"]) for m in stub_model.requests[1]["messages"] if m["role"] != "system"]
    assert turns == [
        ("user", "My name is Anna"),
        ("assistant", "Nice to meet you, Anna."),
        ("user", "What is my name?"),
    ]


async def test_customer_identifier_is_used_exactly_as_sent(tenant: Tenant) -> None:
    a = (await tenant.reply(customer="+49 155 551234")).json()
    b = (await tenant.reply(customer="+49155551234")).json()
    c = (await tenant.reply(customer="+49 155 551234")).json()
    assert a["customer_identifier"] == "+49 155 551234"
    assert a["conversation_id"] != b["conversation_id"]
    assert a["conversation_id"] == c["conversation_id"]


async def test_each_assistant_has_its_own_conversation_with_a_customer(make_tenant: Any) -> None:
    first: Tenant = await make_tenant()
    second: Tenant = await make_tenant()
    a = (await first.reply(customer="same")).json()
    b = (await second.reply(customer="same")).json()
    assert a["conversation_id"] != b["conversation_id"]


async def test_history_beyond_the_context_budget_is_cut_oldest_first(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant(context_budget_tokens=300, system_prompt="Be brief.")
    for n in range(12):
        await tenant.reply(f"message number {n} " + "x" * 120)
    sent = [r for r in stub_model.requests if not is_summary(r)][-1]["messages"]
    turns = [m["content"] for m in sent if m["role"] in ("user", "assistant")]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["role"] == "system" and sent[1]["content"].startswith("Summary of the earlier conversation")
    assert turns[-1].startswith("message number 11")
    assert not any(text.startswith("message number 0 ") for text in turns)
    assert prompt_tokens([ChatMessage(m["role"], m["content"]) for m in sent], ESTIMATE) <= 300


async def test_concurrent_messages_of_one_conversation_run_in_arrival_order(
    tenant: Tenant, stub_model: StubModel
) -> None:
    gate = threading.Event()

    def answer(request: dict[str, Any]) -> Scripted:
        """By the message answered, so that a call the transport sent again gets the same answer."""
        said = request["messages"][-1]["content"]
        return Scripted(text=f"{said} answer", gate=gate if said == "first" else None)

    stub_model.rule = answer
    first = asyncio.create_task(tenant.reply("first"))
    await asyncio.to_thread(stub_model.wait_for_request)
    second = asyncio.create_task(tenant.reply("second"))
    await asyncio.sleep(0.2)  # give the second request every chance to overtake (it must not)
    assert "second" not in [request["messages"][-1]["content"] for request in stub_model.requests]
    gate.set()
    assert (await first).json()["reply"] == "first answer"
    assert (await second).json()["reply"] == "second answer"
    later_input = [m["content"] for m in stub_model.requests[-1]["messages"]]
    assert later_input[-3:] == ["first", "first answer", "second"]


async def test_different_conversations_run_in_parallel(tenant: Tenant, stub_model: StubModel) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="held", gate=gate), "free")
    held = asyncio.create_task(tenant.reply("one", customer="alice"))
    await asyncio.to_thread(stub_model.wait_for_request)
    free = await tenant.reply("two", customer="bob")
    assert free.json()["reply"] == "free"
    gate.set()
    assert (await held).json()["reply"] == "held"


async def test_variables_merge_and_render_into_the_system_prompt(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant(
        system_prompt="Name={{customer_name}} Plan={{ plan }} VIP={{vip}} Missing=[{{nope}}] Id={{customer_identifier}}"
    )
    await tenant.reply(customer="c-1", variables={"customer_name": "John", "plan": "gold", "vip": True})
    await tenant.reply(customer="c-1", variables={"plan": "silver", "vip": None})
    await tenant.reply(customer="c-1")
    prompts = [system_prompt(r) for r in stub_model.requests]
    assert prompts[0] == "Name=John Plan=gold VIP=true Missing=[] Id=c-1"
    assert prompts[1] == "Name=John Plan=silver VIP= Missing=[] Id=c-1"
    assert prompts[2] == prompts[1]


async def test_variable_values_are_never_evaluated_as_templates(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant(system_prompt="Hello {{name}}, your id is {{customer_identifier}}")
    await tenant.reply(customer="c-2", variables={"name": "{{customer_identifier}} {% if 1 %}x{% endif %}"})
    assert (
        system_prompt(stub_model.requests[0]) == "Hello {{customer_identifier}} {% if 1 %}x{% endif %}, your id is c-2"
    )


async def test_builtin_variables_render(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant(system_prompt="{{conversation_id}}|{{now}}")
    body = (await tenant.reply()).json()
    conversation_id, now = system_prompt(stub_model.requests[0]).split("|")
    assert conversation_id == body["conversation_id"]
    assert now.endswith(" UTC") and now[:2] == "20"


async def test_takeover_stores_the_message_without_model_or_charge(
    tenant: Tenant, stub_model: StubModel, db: Any, snapshot: Any
) -> None:
    conversation_id = (await tenant.reply("before takeover")).json()["conversation_id"]
    async with db() as session, session.begin():
        await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(ai_disabled=True))
    before = await snapshot(tenant.account_id)
    calls = len(stub_model.requests)
    response = await tenant.reply("is anyone there?")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "conversation_id": conversation_id,
        "customer_identifier": "+49155551234",
        "reply": None,
        "function_calls": [],
        "ai_disabled": True,
    }
    after = await snapshot(tenant.account_id)
    assert len(stub_model.requests) == calls
    assert after.messages == before.messages + 1
    assert after.balance_micros == before.balance_micros
    assert after.ledger_entries == before.ledger_entries


async def test_each_reply_is_charged_by_tokens_and_fee(make_tenant: Any, stub_model: StubModel, snapshot: Any) -> None:
    tenant: Tenant = await make_tenant(
        balance="1.00", reply_fee="0.01", input_price_per_million_tokens="2.50", output_price_per_million_tokens="10"
    )
    stub_model.enqueue(Scripted(text="ok", usage=(1000, 333)))
    await tenant.reply()
    after = await snapshot(tenant.account_id)
    # 1000 x 2.50/1M + 333 x 10/1M + 0.01 = 0.0025 + 0.00333 + 0.01 = 0.01583
    assert after.balance_micros == 1_000_000 - 15_830
    assert after.ledger_entries == 2  # the opening top-up and this reply


async def test_balance_always_equals_the_ledger_sum(make_tenant: Any, snapshot: Any) -> None:
    tenant: Tenant = await make_tenant(balance="0.10", input_price_per_million_tokens="3")
    statuses = [(await tenant.reply(f"message {n}", customer=f"c{n % 3}")).status_code for n in range(14)]
    after = await snapshot(tenant.account_id)
    # Each reply holds its worst case (a 2,048-token prompt at 3/M, twice more for summaries,
    # plus the 0.01 fee: 0.0284) and costs about 0.0102: the ninth finds 0.0187 left, too little.
    assert statuses[:8] == [200] * 8 and statuses[8:] == [402] * 6
    assert after.balance_micros == after.ledger_sum_micros
    assert after.ledger_entries == 1 + statuses.count(200)
