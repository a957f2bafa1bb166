"""Every client method against the live app, sync and async, and the exception each error
answer becomes."""

import uuid
from decimal import Decimal
from typing import Any

import pytest

from replyd.client import (
    AssistantInUseError,
    AssistantNotFoundError,
    AsyncReplydClient,
    ConversationNotFoundError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InsufficientBalanceError,
    NotFoundError,
    UnauthenticatedError,
    ValidationFailedError,
)
from replyd.store import accounts
from tests.client.conftest import Connect
from tests.conftest import STUB_MODEL, Tenant
from tests.servers import StubModel


async def test_generate_reply_returns_the_reply_and_remembers_the_conversation(
    client: AsyncReplydClient, tenant: Tenant, stub_model: StubModel
) -> None:
    stub_model.enqueue("Friday at ten works.")
    reply = await client.generate_reply(tenant.assistant_id, "+4917", "Friday?", variables={"name": "John"})
    assert (reply.reply, reply.customer_identifier, reply.ai_disabled, reply.function_calls) == (
        "Friday at ten works.",
        "+4917",
        False,
        [],
    )
    conversation = await client.get_conversation(reply.conversation_id)
    assert conversation.conversation_id == reply.conversation_id
    assert (conversation.assistant_id, conversation.type) == (tenant.assistant_id, "api")
    assert (conversation.external_identifier, conversation.ai_enabled) == ("+4917", True)
    assert conversation.variables == {"name": "John"}
    assert [(m.role, m.author, m.content) for m in conversation.history] == [
        ("user", "customer", "Friday?"),
        ("assistant", "ai", "Friday at ten works."),
    ]


async def test_conversations_are_listed_filtered_and_iterated_across_pages(
    client: AsyncReplydClient, tenant: Tenant
) -> None:
    ids = {(await client.generate_reply(tenant.assistant_id, f"c-{n}", "hi")).conversation_id for n in range(3)}
    page = await client.list_conversations(assistant_id=tenant.assistant_id, per_page=2)
    assert len(page.data) == 2 and page.per_page == 2 and page.next_cursor is not None
    older = await client.list_conversations(assistant_id=tenant.assistant_id, per_page=2, cursor=page.next_cursor)
    assert len(older.data) == 1 and older.next_cursor is None
    found = [c.id async for c in client.iter_conversations(assistant_id=tenant.assistant_id, per_page=1)]
    assert sorted(found) == sorted(ids)
    one = await client.list_conversations(external_identifier="c-1", type="api", assistant_id=tenant.assistant_id)
    assert [(c.external_identifier, c.message_count, c.total_cost) for c in one.data] == [("c-1", 2, Decimal("0.01"))]


async def test_a_human_takes_a_conversation_over_and_hands_it_back(
    client: AsyncReplydClient, tenant: Tenant, stub_model: StubModel
) -> None:
    first = await client.generate_reply(tenant.assistant_id, "c-1", "hello")
    taken = await client.disable_ai(first.conversation_id)
    assert (taken.conversation_id, taken.ai_enabled) == (first.conversation_id, False)
    unanswered = await client.generate_reply(tenant.assistant_id, "c-1", "anyone there?")
    assert (unanswered.reply, unanswered.ai_disabled) == (None, True)
    taken_over = await client.get_conversation(first.conversation_id)
    assert (taken_over.ai_disabled_by, taken_over.needs_human) == ("operator", False)
    agent = await client.add_agent_message(first.conversation_id, "Hi, this is Anna.")
    assert (agent.conversation_id, agent.message.author, agent.message.content) == (
        first.conversation_id,
        "agent",
        "Hi, this is Anna.",
    )
    handed_back = await client.enable_ai(first.conversation_id)
    assert handed_back.ai_enabled is True
    history = (await client.get_conversation(first.conversation_id)).history
    assert [m.author for m in history] == ["customer", "ai", "customer", "agent"]
    assert len(stub_model.requests) == 1


async def test_a_started_chat_answers_messages_and_can_be_erased(
    client: AsyncReplydClient, tenant: Tenant, stub_model: StubModel
) -> None:
    started = await client.start_conversation(tenant.assistant_id, type="test", variables={"plan": "gold"})
    assert started.history == []
    stub_model.enqueue("Gold plan, noted.")
    answer = await client.send_message(started.conversation_id, "Which plan am I on?")
    assert (answer.message, answer.ai_disabled, answer.function_calls) == ("Gold plan, noted.", False, [])
    conversation = await client.get_conversation(started.conversation_id)
    assert (conversation.type, conversation.variables) == ("test", {"plan": "gold"})
    await client.delete_conversation(started.conversation_id)
    with pytest.raises(ConversationNotFoundError) as raised:
        await client.get_conversation(started.conversation_id)
    assert (raised.value.status, raised.value.error_code) == (404, "CONVERSATION_NOT_FOUND")


async def test_a_customer_is_erased_across_assistants_whatever_their_identifier_holds(
    client: AsyncReplydClient, tenant: Tenant
) -> None:
    customer = "crm/42 +49 (0) 155"
    conversation_id = (await client.generate_reply(tenant.assistant_id, customer, "hi")).conversation_id
    erased = await client.erase_customer(customer)
    assert (erased.customer_identifier, erased.conversation_ids, erased.messages) == (customer, [conversation_id], 2)
    assert erased.ledger_entries_anonymised == 1
    with pytest.raises(ConversationNotFoundError):
        await client.get_conversation(conversation_id)
    assert (await client.erase_customer(customer)).conversation_ids == []
    assert (await client.get_account()).conversation_retention_days is None


async def test_assistants_are_created_listed_read_changed_and_deleted(
    client: AsyncReplydClient, tenant: Tenant
) -> None:
    created = await client.create_assistant("Sales", model=STUB_MODEL, reply_fee=Decimal("0.02"), temperature=0.2)
    assert (created.name, created.model, created.reply_fee, created.temperature) == (
        "Sales",
        STUB_MODEL,
        Decimal("0.02"),
        0.2,
    )
    assert {a.id for a in await client.list_assistants()} == {tenant.assistant_id, created.id}
    assert await client.get_assistant(created.id) == created
    changed = await client.update_assistant(created.id, name="Sales EU", first_message="Hallo!")
    assert (changed.name, changed.first_message, changed.reply_fee) == ("Sales EU", "Hallo!", Decimal("0.02"))
    await client.delete_assistant(created.id)
    with pytest.raises(AssistantNotFoundError):
        await client.get_assistant(created.id)


async def test_deleting_an_assistant_with_conversations_needs_force(
    client: AsyncReplydClient, tenant: Tenant, sleeps: list[float]
) -> None:
    await client.generate_reply(tenant.assistant_id, "c-1", "hi")
    with pytest.raises(AssistantInUseError) as raised:
        await client.delete_assistant(tenant.assistant_id)
    assert raised.value.status == 409 and sleeps == []
    await client.delete_assistant(tenant.assistant_id, force=True)
    assert await client.list_assistants() == []


async def test_the_account_shows_its_balance_and_the_usage_lists_each_charge(
    client: AsyncReplydClient, tenant: Tenant
) -> None:
    account = await client.get_account()
    assert (account.account_id, account.balance, account.balance_micros) == (tenant.account_id, Decimal("10.00"), 10**7)
    assert account.balance_low_threshold is None
    assert (account.token.id, account.token.scope) == (tenant.token_id, "admin")
    reply = await client.generate_reply(tenant.assistant_id, "c-1", "hi")
    newest = await client.get_usage(per_page=1)
    [charge] = newest.data
    assert (charge.kind, charge.amount, charge.conversation_id) == ("reply", Decimal("-0.01"), reply.conversation_id)
    assert newest.next_cursor is not None
    [top_up] = (await client.get_usage(cursor=newest.next_cursor)).data
    assert (top_up.kind, top_up.amount) == ("top_up", Decimal("10.00"))
    [per_assistant] = newest.totals.per_assistant
    assert (per_assistant.assistant_id, per_assistant.spent, per_assistant.replies) == (
        tenant.assistant_id,
        Decimal("0.01"),
        1,
    )


async def test_an_unknown_assistant_raises_assistant_not_found_without_retrying(
    client: AsyncReplydClient, sleeps: list[float]
) -> None:
    with pytest.raises(AssistantNotFoundError) as raised:
        await client.generate_reply(999_999_999, "c-1", "hi")
    assert isinstance(raised.value, NotFoundError)
    assert (raised.value.status, raised.value.error_code) == (404, "ASSISTANT_NOT_FOUND")
    assert sleeps == []


async def test_an_empty_balance_raises_insufficient_balance(connect: Connect, make_tenant: Any, server: str) -> None:
    broke: Tenant = await make_tenant(balance="0")
    with pytest.raises(InsufficientBalanceError) as raised:
        await connect(server, broke.token).generate_reply(broke.assistant_id, "c-1", "hi")
    assert raised.value.status == 402


async def test_a_replies_token_on_an_admin_endpoint_raises_forbidden(
    connect: Connect, tenant: Tenant, server: str, db: Any
) -> None:
    async with db() as session, session.begin():
        token = await accounts.create_token(session, tenant.account_id, scope="replies")
    replies_only = connect(server, token.secret)
    assert (await replies_only.generate_reply(tenant.assistant_id, "c-1", "hi")).reply == "echo: hi"
    with pytest.raises(ForbiddenError) as raised:
        await replies_only.get_account()
    assert (raised.value.status, raised.value.error_code) == (403, "FORBIDDEN")


async def test_an_unknown_token_raises_unauthenticated(connect: Connect, server: str) -> None:
    with pytest.raises(UnauthenticatedError) as raised:
        await connect(server, "rpd_" + "x" * 40).list_assistants()
    assert raised.value.status == 401


async def test_a_blank_message_raises_validation_failed_naming_the_field(
    client: AsyncReplydClient, tenant: Tenant
) -> None:
    with pytest.raises(ValidationFailedError) as raised:
        await client.generate_reply(tenant.assistant_id, "c-1", "   ")
    assert raised.value.status == 422
    assert [d.field for d in raised.value.details] == ["message"]


async def test_reusing_an_idempotency_key_for_another_message_is_refused(
    client: AsyncReplydClient, tenant: Tenant
) -> None:
    key = str(uuid.uuid4())
    await client.generate_reply(tenant.assistant_id, "c-1", "one", idempotency_key=key)
    with pytest.raises(IdempotencyKeyReusedError) as raised:
        await client.generate_reply(tenant.assistant_id, "c-1", "two", idempotency_key=key)
    assert raised.value.status == 422


async def test_the_same_idempotency_key_returns_the_first_reply(
    client: AsyncReplydClient, tenant: Tenant, stub_model: StubModel
) -> None:
    key = str(uuid.uuid4())
    first = await client.generate_reply(tenant.assistant_id, "c-1", "one", idempotency_key=key)
    again = await client.generate_reply(tenant.assistant_id, "c-1", "one", idempotency_key=key)
    assert again == first and len(stub_model.requests) == 1
