"""The reply engine keeps each conversation's recent messages between turns (engine/history.py);
whatever another writer stores meanwhile is still in the next prompt, in its place."""

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import insert

from replyd.clock import utcnow
from replyd.store import conversations
from replyd.store.tables import MESSAGES, number_of
from tests.conftest import Tenant
from tests.servers import StubModel
from tests.statements import statements_starting


def prompt_texts(request: dict[str, Any]) -> list[str]:
    """The prompt's messages after the system prompt, as role: text."""
    return [f"{m['role']}: {m['content']}" for m in request["messages"] if m["role"] != "system"]


async def reply_ok(tenant: Tenant, message: str, customer: str) -> str:
    response = await tenant.reply(message, customer=customer)
    assert response.status_code == 200, response.text
    conversation_id: str = response.json()["conversation_id"]
    return conversation_id


def history_reads() -> AbstractContextManager[list[str]]:
    """The statements reading a conversation's recent messages, by any engine of this process."""
    return statements_starting("SELECT messages.id, messages.role")


async def test_the_next_turn_of_a_conversation_answered_here_reads_no_message_again(tenant: Tenant) -> None:
    await reply_ok(tenant, "one", "kept-0")
    with history_reads() as reads:
        await reply_ok(tenant, "two", "kept-0")
        await reply_ok(tenant, "three", "kept-0")
    assert reads == []


async def test_a_message_stored_by_another_writer_between_turns_is_in_the_next_prompt(
    tenant: Tenant, stub_model: StubModel, db: Any
) -> None:
    stub_model.enqueue("reply one", "reply two")
    conversation_id = await reply_ok(tenant, "one", "kept-1")
    async with db() as session, session.begin():  # as `replyd conversations say` does, in its own process
        await conversations.add_message(session, conversation_id, author="agent", content="agent")
    await reply_ok(tenant, "two", "kept-1")
    prompt = prompt_texts(stub_model.requests[-1])
    assert prompt == ["user: one", "assistant: reply one", "assistant: agent", "user: two"]


async def test_a_message_committed_late_with_an_older_id_is_in_the_next_prompt_in_its_place(
    tenant: Tenant, stub_model: StubModel, db: Any
) -> None:
    """On PostgreSQL a writer without the conversation's lock (the command line) may commit a
    message after later ones were stored and kept: its id is older than theirs."""
    stub_model.enqueue("reply one", "reply other", "reply two", "reply three")
    conversation_id = await reply_ok(tenant, "one", "kept-2")
    other_id = await reply_ok(tenant, "other", "kept-2-other")  # takes the next two message ids
    async with db() as session:
        free_ids = [m.id for m in await conversations.all_messages(session, other_id)]
    await reply_ok(tenant, "two", "kept-2")  # this process now keeps one, its reply, two, its reply
    async with db() as session, session.begin():
        await conversations.delete_conversation(session, tenant.account_id, other_id)
        late = {"author": "agent", "content": "late"}
        late["conversation_number"] = number_of(conversation_id)
        await session.execute(insert(MESSAGES).values(id=free_ids[0], function_calls=[], created_at=utcnow(), **late))
    await reply_ok(tenant, "three", "kept-2")
    assert prompt_texts(stub_model.requests[-1]) == [
        "user: one",
        "assistant: reply one",
        "assistant: late",
        "user: two",
        "assistant: reply two",
        "user: three",
    ]
