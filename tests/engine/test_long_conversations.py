"""Long conversations over 300 turns, through the HTTP API with the stub model recording every
request: the budget holds, cuts are rare and large, the prefix stays byte-identical between
cuts, the summary keeps what was said before the cut, and calls stay with their results."""

import json
from typing import Any

from replyd.engine.context import message_tokens
from replyd.engine.summary import INSTRUCTIONS
from replyd.providers.base import ChatMessage, ToolCall, estimate_tokens
from tests.conftest import Tenant
from tests.servers import Scripted, StubModel

BUDGET = 600
TURNS = 300
SUMMARY_MARK = INSTRUCTIONS.split(".")[0]


def summarise_facts(payload: dict[str, Any]) -> Scripted | None:
    """The stub's summariser: keeps every line holding a FACT, from the earlier summary and
    the transcript, so a test can follow one fact through every cut."""
    system = payload["messages"][0]["content"]
    if not system.startswith(SUMMARY_MARK):
        return None
    lines = payload["messages"][1]["content"].splitlines()
    facts = dict.fromkeys(line.split("FACT ", 1)[1].split(".")[0] for line in lines if "FACT " in line)
    return Scripted(text=" ".join(f"FACT {fact}." for fact in facts) or "Nothing to keep.")


def tokens(messages: list[dict[str, Any]]) -> int:
    """replyd's own count: content, tool calls, and each message's overhead."""
    total = 0
    for m in messages:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls") or ()
        )
        total += message_tokens(ChatMessage(m["role"], m.get("content") or "", calls), estimate_tokens)
    return total


def assert_calls_keep_their_results(messages: list[dict[str, Any]]) -> None:
    for n, message in enumerate(messages):
        if message.get("tool_calls"):
            ids = [c["id"] for c in message["tool_calls"]]
            assert [m.get("tool_call_id") for m in messages[n + 1 : n + 1 + len(ids)]] == ids
        if message["role"] == "tool":
            assert any(message["tool_call_id"] in [c["id"] for c in m.get("tool_calls") or ()] for m in messages[:n])


async def test_three_hundred_turns_stay_in_budget_with_rare_large_cuts(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant(
        context_budget_tokens=BUDGET,
        system_prompt="You help customers of Bob's Bikes.",
        functions=[{"name": "lookup", "parameters": {"type": "object"}, "url": "http://10.0.0.9/lookup"}],
    )
    stub_model.rule = summarise_facts
    for turn in range(TURNS):
        text = "FACT the customer's order is 4711." if turn == 0 else f"Turn {turn}: a question about bikes " + "x" * 40
        if turn % 9 == 4:
            stub_model.enqueue(Scripted(tool_calls=[("lookup", {"turn": turn})]), f"looked up {turn}")
        response = await tenant.reply(text, customer="long")
        assert response.status_code == 200, response.text

    replies = [r for r in stub_model.requests if not r["messages"][0]["content"].startswith(SUMMARY_MARK)]
    summaries = [r for r in stub_model.requests if r["messages"][0]["content"].startswith(SUMMARY_MARK)]
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
    assert len(cuts) == len(summaries)
    assert all(later - earlier >= 4 for earlier, later in zip(cuts, cuts[1:], strict=False)), cuts
    assert len(cuts) <= TURNS // 4

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
