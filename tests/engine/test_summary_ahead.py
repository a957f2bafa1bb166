"""Rolling summaries written ahead: off the reply's critical path, applied by the turn that
cuts and charged to it, refused once stale, finished at shutdown, and replaced by an inline
summary when writing one ahead fails."""

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.context import summary_message
from replyd.providers.base import ChatMessage, prompt_tokens
from replyd.providers.local import LocalProvider
from replyd.store import conversations
from replyd.store.conversations import SummaryAhead
from replyd.store.tables import Conversation
from tests.conftest import STUB_MODEL, Tenant
from tests.engine.test_long_conversations import is_summary, summaries_in_flight, summaries_settled
from tests.servers import Scripted, StubModel

BUDGET = 300
SUMMARY_USAGE = (111, 22)
REPLY_USAGE = (50, 5)


def answer_with(summary: Callable[[], Scripted]) -> Callable[[dict[str, Any]], Scripted]:
    """The stub's rule: summaries from ``summary()``, replies a short "ok" with fixed usage."""
    return lambda payload: summary() if is_summary(payload) else Scripted(text="ok", usage=REPLY_USAGE)


def message(turn: int) -> str:
    return f"Turn {turn}: a question about my order " + "z" * 40


def summary_requests(stub_model: StubModel) -> int:
    return sum(1 for request in stub_model.requests if is_summary(request))


async def reply_until_a_summary_is_asked(tenant: Tenant, stub_model: StubModel) -> int:
    """Reply turn after turn until replyd asks for a summary; returns the turns sent. Every
    turn must be answered: no reply waits for a summary written ahead."""
    for turn in range(40):
        response = await tenant.reply(message(turn), customer="ahead")
        assert response.status_code == 200, response.text
        if summary_requests(stub_model):
            return turn + 1
        if await summaries_in_flight(str(tenant.client.base_url)):
            for _ in range(500):  # the summary's request is on its way
                if summary_requests(stub_model):
                    return turn + 1
                await asyncio.sleep(0.01)
            raise AssertionError("the summary written ahead never reached the model")
    raise AssertionError("40 turns did not bring the prompt near the budget")


async def conversation_of(db: async_sessionmaker[AsyncSession], tenant: Tenant) -> Conversation:
    async with db() as session:
        found = await conversations.find_conversation(session, tenant.assistant_id, "ahead")
    assert found is not None
    return found


async def test_the_reply_does_not_wait_and_the_cutting_turn_applies_and_pays_for_the_summary(
    make_tenant: Any, stub_model: StubModel, server: str, db: async_sessionmaker[AsyncSession]
) -> None:
    tenant: Tenant = await make_tenant(context_budget_tokens=BUDGET)
    gate = threading.Event()
    stub_model.rule = answer_with(
        lambda: Scripted(text="The customer asks about an order.", gate=gate, usage=SUMMARY_USAGE)
    )
    sent = await reply_until_a_summary_is_asked(tenant, stub_model)
    assert (await conversation_of(db, tenant)).next_summary is None  # still being written, and the reply is back

    gate.set()
    await summaries_settled(server)
    waiting = await conversation_of(db, tenant)
    assert waiting.next_summary == "The customer asks about an order."
    assert waiting.summary is None  # not needed yet: the prompt still fits

    for turn in range(sent, sent + 40):
        await tenant.reply(message(turn), customer="ahead")
        if (await conversation_of(db, tenant)).summary is not None:
            break
    applied = await conversation_of(db, tenant)
    assert applied.summary == "The customer asks about an order."
    assert applied.summary_through_id == waiting.next_summary_through_id and applied.next_summary is None
    assert summary_requests(stub_model) == 1  # the cutting turn wrote none of its own
    cutting_prompt = stub_model.requests[-1]["messages"]
    assert cutting_prompt[1] == {
        "role": "system",
        "content": "Summary of the earlier conversation:\n" + applied.summary,
    }

    async with db() as session:
        replies = await conversations.all_messages(session, applied.id)
    charged = [(m.prompt_tokens, m.completion_tokens) for m in replies if m.role == "assistant"]
    paid_for_summary = (REPLY_USAGE[0] + SUMMARY_USAGE[0], REPLY_USAGE[1] + SUMMARY_USAGE[1])
    assert charged[-1] == paid_for_summary
    assert charged[:-1] == [REPLY_USAGE] * (len(charged) - 1)


async def test_a_summary_written_ahead_is_refused_once_the_mark_has_moved_or_another_waits(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply("Hello", customer="ahead")).json()["conversation_id"]
    async with db() as session:
        first_id = min(m.id for m in await conversations.all_messages(session, conversation_id))
    ahead = SummaryAhead("written ahead", first_id, 10, 2)

    async with db() as session, session.begin():
        assert await conversations.offer_next_summary(session, conversation_id, None, ahead)
        assert not await conversations.offer_next_summary(session, conversation_id, None, ahead)  # one waits
    async with db() as session, session.begin():
        await conversations.set_summary(session, conversation_id, "inline", first_id)  # a turn cut first
    stored = await conversation_of(db, tenant)
    assert (stored.summary, stored.next_summary, stored.next_summary_through_id) == ("inline", None, None)
    async with db() as session, session.begin():
        assert not await conversations.offer_next_summary(session, conversation_id, None, ahead)  # stale
        assert await conversations.offer_next_summary(session, conversation_id, first_id, ahead)


async def test_shutdown_waits_for_a_summary_being_written_ahead(
    make_tenant: Any, start_server: Any, stub_model: StubModel, db: async_sessionmaker[AsyncSession]
) -> None:
    gate = threading.Event()
    stub_model.rule = answer_with(lambda: Scripted(text="Kept through shutdown.", gate=gate))
    with start_server() as url:
        tenant: Tenant = await make_tenant(base_url=url, context_budget_tokens=BUDGET)
        await reply_until_a_summary_is_asked(tenant, stub_model)
        threading.Timer(0.3, gate.set).start()  # the summary finishes while the server is stopping
    assert (await conversation_of(db, tenant)).next_summary == "Kept through shutdown."


async def test_when_writing_ahead_fails_the_cutting_turn_summarises_inline(
    make_tenant: Any, start_server: Any, stub_model: StubModel, db: async_sessionmaker[AsyncSession]
) -> None:
    answers = iter([Scripted(status=500)])
    stub_model.rule = answer_with(lambda: next(answers, Scripted(text="Written inline.")))
    with start_server() as url:
        tenant: Tenant = await make_tenant(base_url=url, context_budget_tokens=BUDGET)
        sent = await reply_until_a_summary_is_asked(tenant, stub_model)
        await summaries_settled(url)
        for turn in range(sent, sent + 40):
            assert (await tenant.reply(message(turn), customer="ahead")).status_code == 200
            if (await conversation_of(db, tenant)).summary is not None:
                break
        await summaries_settled(url)
        async with httpx.AsyncClient(base_url=url) as client:
            metrics = (await client.get("/metrics")).text
    assert (await conversation_of(db, tenant)).summary == "Written inline."
    assert 'replyd_summaries_ahead_total{outcome="failed"} 1.0' in metrics
    assert 'replyd_history_cuts_total{summary="inline"} 1.0' in metrics


async def test_on_the_embedded_model_the_turn_that_cuts_starts_from_the_prompt_prepared_for_it(
    make_tenant: Any, start_server: Any, stub_model: StubModel, db: async_sessionmaker[AsyncSession]
) -> None:
    """Once the summary is written ahead, the embedded model evaluates the start of the prompt
    after the cut (system prompt, new summary, the turns stored by then) in the same pause, so
    the turn that cuts reuses it; else it would reuse only the system prompt."""
    system = "You answer for Bob's Bikes in Leeds."
    summary = "Anna ordered a city bike, order 4711, and asks when it arrives. " * 2
    stub_model.rule = answer_with(lambda: Scripted(text=summary))
    with start_server() as url:
        tenant: Tenant = await make_tenant(
            base_url=url,
            model="local:smollm2",
            summary_model=STUB_MODEL,
            system_prompt=system,
            context_budget_tokens=2 * BUDGET,  # room past the high-water mark for a turn of the local model
            max_reply_tokens=8,
            temperature=0,
        )
        for turn in range(40):
            assert (await tenant.reply(message(turn), customer="ahead")).status_code == 200
            await summaries_settled(url)
            if (await conversation_of(db, tenant)).summary is not None:
                break
        metrics = (await tenant.client.get("/metrics")).text
    conversation = await conversation_of(db, tenant)
    assert conversation.summary == summary.strip()
    assert 'replyd_history_cuts_total{summary="ahead"} 1.0' in metrics
    async with db() as session:
        cutting = (await conversations.all_messages(session, conversation.id))[-1]

    counter = LocalProvider(None, max_context_tokens=None, threads=None, timeout_s=30)
    counter.load()
    head = [ChatMessage("system", system), *summary_message(conversation.summary)]
    assert cutting.role == "assistant"
    assert cutting.cached_tokens >= prompt_tokens(head, counter) - prompt_tokens([], counter)
