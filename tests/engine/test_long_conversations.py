"""Long conversations over 300 turns, through the HTTP API with the stub model recording every
request: the budget holds, cuts are rare and large, the prefix stays byte-identical between
cuts, the summary keeps what was said before the cut, and calls stay with their results."""

import asyncio
import json
import re
from typing import Any

import httpx
import pytest

from replyd.engine.summary import INSTRUCTIONS
from replyd.providers.base import ESTIMATE, ChatMessage, ToolCall, prompt_tokens
from tests.conftest import Tenant
from tests.servers import Scripted, StubModel

BUDGET = 600
TURNS = 300
SUMMARY_MARK = INSTRUCTIONS.split(".")[0]


def summarise_facts(payload: dict[str, Any]) -> Scripted | None:
    """The stub's summariser: keeps every line holding a FACT, from the earlier summary and
    the transcript, so a test can follow one fact through every cut."""
    if not is_summary(payload):
        return None
    lines = payload["messages"][1]["content"].splitlines()
    facts = dict.fromkeys(line.split("FACT ", 1)[1].split(".")[0] for line in lines if "FACT " in line)
    return Scripted(text=" ".join(f"FACT {fact}." for fact in facts) or "Nothing to keep.")


def is_summary(request: dict[str, Any]) -> bool:
    return bool(request["messages"][0]["content"].startswith(SUMMARY_MARK))


def tokens(messages: list[dict[str, Any]]) -> int:
    """replyd's own count: content, tool calls, each message's overhead and the reply's header."""
    return prompt_tokens([chat_message(m) for m in messages], ESTIMATE)


def chat_message(message: dict[str, Any]) -> ChatMessage:
    calls = tuple(
        ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or ()
    )
    return ChatMessage(message["role"], message.get("content") or "", calls)


def assert_calls_keep_their_results(messages: list[dict[str, Any]]) -> None:
    for n, message in enumerate(messages):
        if message.get("tool_calls"):
            ids = [c["id"] for c in message["tool_calls"]]
            assert [m.get("tool_call_id") for m in messages[n + 1 : n + 1 + len(ids)]] == ids
        if message["role"] == "tool":
            assert any(message["tool_call_id"] in [c["id"] for c in m.get("tool_calls") or ()] for m in messages[:n])


async def summaries_in_flight(base_url: str) -> int:
    """How many summaries the server is writing ahead now (its metrics say)."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        metrics = (await client.get("/metrics")).text
    found = re.search(r"^replyd_summaries_ahead_in_flight (\S+)$", metrics, re.MULTILINE)
    assert found is not None
    return int(float(found[1]))


async def summaries_settled(base_url: str) -> None:
    """Wait until the server writes no summary ahead."""
    for _ in range(500):
        if not await summaries_in_flight(base_url):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a summary written ahead did not finish")


@pytest.mark.parametrize("ahead", [True, False], ids=["summaries-ahead", "summaries-inline"])
async def test_three_hundred_turns_stay_in_budget_with_rare_large_cuts(
    make_tenant: Any, start_server: Any, stub_model: StubModel, ahead: bool
) -> None:
    """With summaries written ahead (the test lets each finish before the next turn, as a
    customer's pause would) every cut applies one; inline, every cut writes its own."""
    with start_server(summaries_ahead=ahead) as url:
        tenant: Tenant = await make_tenant(
            base_url=url,
            context_budget_tokens=BUDGET,
            system_prompt="You help customers of Bob's Bikes.",
            functions=[{"name": "lookup", "parameters": {"type": "object"}, "url": "http://10.0.0.9/lookup"}],
        )
        stub_model.rule = summarise_facts
        for turn in range(TURNS):
            text = (
                "FACT the customer's order is 4711."
                if turn == 0
                else f"Turn {turn}: a question about bikes " + "x" * 40
            )
            if turn % 9 == 4:
                stub_model.enqueue(Scripted(tool_calls=[("lookup", {"turn": turn})]), f"looked up {turn}")
            response = await tenant.reply(text, customer="long")
            assert response.status_code == 200, response.text
            await summaries_settled(url)
        metrics = (await tenant.client.get("/metrics")).text

    replies = [r for r in stub_model.requests if not is_summary(r)]
    summaries = [r for r in stub_model.requests if is_summary(r)]
    # Each turn's prompt (its first round; a function round appends to it) fits the budget.
    firsts = [r for r in replies if r["messages"][-1]["role"] == "user"]
    assert len(firsts) == TURNS
    assert max(tokens(r["messages"]) for r in firsts) <= BUDGET

    cuts = []
    for n in range(1, TURNS):
        before, after = firsts[n - 1]["messages"][:-1], firsts[n]["messages"]
        if after[: len(before)] != before:
            cuts.append(n)
    assert cuts, "300 turns must outgrow a 600-token budget"
    waiting = len(summaries) - len(cuts)  # written ahead, not needed yet when the test stopped
    assert waiting == 0 or (ahead and waiting == 1)
    assert all(later - earlier >= 4 for earlier, later in zip(cuts, cuts[1:], strict=False)), cuts
    assert len(cuts) <= TURNS // 4
    how = "ahead" if ahead else "inline"
    assert f'replyd_history_cuts_total{{summary="{how}"}} {float(len(cuts))}' in metrics

    for request in firsts[cuts[0] :]:
        summary = request["messages"][1]
        assert summary["role"] == "system" and "order is 4711" in summary["content"]
        assert_calls_keep_their_results(request["messages"])
    assert all("FACT" not in (m["content"] or "") or m["role"] == "system" for m in firsts[-1]["messages"])


async def test_the_summary_and_its_mark_are_stored_with_the_conversation(
    make_tenant: Any, stub_model: StubModel, db: Any
) -> None:
    from replyd.store.tables import Conversation

    tenant: Tenant = await make_tenant(context_budget_tokens=300)
    stub_model.rule = summarise_facts
    conversation_id = ""
    for turn in range(20):
        text = "FACT my dog is called Rex." if turn == 0 else f"turn {turn} " + "y" * 60
        conversation_id = (await tenant.reply(text)).json()["conversation_id"]
    async with db() as session:
        conversation = await session.get(Conversation, conversation_id)
    assert conversation.summary == "FACT my dog is called Rex."
    assert conversation.summary_through_id is not None
    last = stub_model.requests[-1]["messages"]
    assert json.dumps(last).count("Rex") == 1  # only in the summary now


async def test_the_conversation_id_is_the_prompt_cache_key(tenant: Tenant, stub_model: StubModel) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    assert stub_model.requests[0]["prompt_cache_key"] == conversation_id
