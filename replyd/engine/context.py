"""What the model sees, laid out so that providers' prompt caches keep hitting:

    system prompt (with variables)        stable
    summary of older turns (if any)       changes only when a cut happens
    recent turns, append-only             grows by one exchange per turn
    the new message

When the next prompt would exceed the assistant's context budget, the oldest recent turns
are cut in one large step (down to ``CUT_TARGET`` of the budget, not one message per turn)
and folded into the rolling summary. Once a prompt passes ``HIGH_WATER`` of the budget, the
plan names the turns the coming cut will fold, so that their summary can be written ahead,
in the background (``summary_ahead.py``). Between cuts the prefix before the newest turns is
byte-identical from turn to turn.

History comes in units, one per stored message; a reply that called functions is one unit
of several chat messages (the calls, their results, the text), so a call is never
separated from its result."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from replyd.providers.base import ChatMessage, Tokenizer, ToolCall, message_tokens, prompt_tokens, unit_tokens

Unit = tuple[ChatMessage, ...]

CUT_TARGET = 0.6
"""After a cut, the prompt (summary room included) takes at most this share of the budget."""
HIGH_WATER = 0.85
"""A prompt past this share of the budget starts the summary of the next cut, in the background."""
SUMMARY_SHARE = 0.15
"""Room kept for the rolling summary, as a share of the budget."""
SUMMARY_INTRO = "Summary of the earlier conversation:\n"


@dataclass(frozen=True)
class Turn:
    """One stored message of the recent history, with its id (to move the summary's mark)."""

    message_id: int
    unit: Unit


@dataclass(frozen=True)
class Plan:
    """The recent turns to keep, and those to fold into the summary first (none: no cut)."""

    keep: list[Turn]
    fold: list[Turn]
    fold_ahead: list[Turn] = field(default_factory=list)
    """With no cut due yet but past the high-water mark: the turns the coming cut will fold."""


def summary_budget(budget_tokens: int) -> int:
    return max(32, int(budget_tokens * SUMMARY_SHARE))


def summary_message(summary: str | None) -> list[ChatMessage]:
    return [ChatMessage("system", SUMMARY_INTRO + summary)] if summary else []


def plan(
    system_prompt: str,
    summary: str | None,
    recent: Sequence[Turn],
    new_message: str,
    budget_tokens: int,
    tokenizer: Tokenizer,
) -> Plan:
    """Keep everything while it fits; else cut the oldest turns, whole, until the rest fits
    ``CUT_TARGET`` of the budget with room for the summary, ending the cut after a reply so
    the kept turns start with the customer's. Past ``HIGH_WATER`` of the budget, name the
    turns to fold ahead: those the coming cut will fold."""
    fixed = prompt_tokens([ChatMessage("system", system_prompt), ChatMessage("user", new_message)], tokenizer)
    costs = [unit_tokens(turn.unit, tokenizer) for turn in recent]
    total = fixed + unit_tokens(summary_message(summary), tokenizer) + sum(costs)
    summary_room = summary_budget(budget_tokens) + message_tokens(ChatMessage("system", SUMMARY_INTRO), tokenizer)
    allowed = int(budget_tokens * CUT_TARGET) - fixed - summary_room
    if total > budget_tokens:
        cut = _cut(recent, costs, allowed)
        return Plan(list(recent[cut:]), list(recent[:cut]))
    if total <= budget_tokens * HIGH_WATER:
        return Plan(list(recent), [])
    # What the cut will fold once the budget runs out, counting the turns still to come by then.
    cut = _cut(recent, costs, allowed - (budget_tokens - total))
    return Plan(list(recent), [], list(recent[:cut]))


def _cut(recent: Sequence[Turn], costs: Sequence[int], allowed: int) -> int:
    """How many of the oldest turns to cut so that the rest costs at most ``allowed``."""
    cut, remaining = 0, sum(costs)
    while cut < len(recent) and (remaining > allowed or _starts_mid_exchange(recent, cut)):
        remaining -= costs[cut]
        cut += 1
    return cut


def layout(system_prompt: str, summary: str | None, keep: Sequence[Turn], new_message: str) -> list[ChatMessage]:
    return head(system_prompt, summary, keep) + [ChatMessage("user", new_message)]


def head(system_prompt: str, summary: str | None, keep: Sequence[Turn]) -> list[ChatMessage]:
    """Everything before the new message: what every later prompt starts with, until a cut."""
    system = [ChatMessage("system", system_prompt)] if system_prompt else []
    return system + summary_message(summary) + [message for turn in keep for message in turn.unit]


def fits(messages: Sequence[ChatMessage], budget_tokens: int, tokenizer: Tokenizer) -> bool:
    return prompt_tokens(messages, tokenizer) <= budget_tokens


def _starts_mid_exchange(recent: Sequence[Turn], cut: int) -> bool:
    """A cut just before an assistant turn would leave a reply without its question."""
    return recent[cut].unit[0].role != "user"


def stored_unit(message_id: int, role: str, content: str, function_calls: list[dict[str, Any]]) -> Unit:
    """A stored message as the model saw it: a reply with function calls becomes the calls
    (with ids derived from the message, so the text is the same every turn), their
    results, and the reply's text."""
    if role == "user":
        return (ChatMessage("user", content),)
    if not function_calls:
        return (ChatMessage("assistant", content),)
    calls = tuple(
        ToolCall(f"call_{message_id}_{n}", call["name"], json.dumps(call["arguments"], sort_keys=True))
        for n, call in enumerate(function_calls)
    )
    results = tuple(
        ChatMessage("tool", json.dumps(call["result"], sort_keys=True), tool_call_id=tool_call.id)
        for call, tool_call in zip(function_calls, calls, strict=True)
    )
    return (ChatMessage("assistant", "", calls), *results, ChatMessage("assistant", content))
