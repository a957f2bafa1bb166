"""What the model sees: the system prompt, as much recent history as fits the assistant's
context budget (oldest dropped first), and the new message.

History comes in units, one per stored message; a reply that called functions is one unit
of several chat messages (the calls, their results, the text), so a call is never
separated from its result."""

import json
from collections.abc import Callable, Sequence
from typing import Any

from replyd.providers.base import MESSAGE_OVERHEAD_TOKENS, ChatMessage, ToolCall

TokenCounter = Callable[[str], int]
Unit = tuple[ChatMessage, ...]


def message_tokens(message: ChatMessage, count_tokens: TokenCounter) -> int:
    calls = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in message.tool_calls)
    return count_tokens(message.content) + calls + MESSAGE_OVERHEAD_TOKENS


def unit_tokens(unit: Unit, count_tokens: TokenCounter) -> int:
    return sum(message_tokens(m, count_tokens) for m in unit)


def most_messages_in_budget(budget_tokens: int) -> int:
    """No more history than this can fit, since every message costs at least its overhead plus one."""
    return budget_tokens // (MESSAGE_OVERHEAD_TOKENS + 1) + 1


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


def build_model_input(
    system_prompt: str,
    history: Sequence[Unit],
    new_message: str,
    budget_tokens: int,
    count_tokens: TokenCounter,
) -> list[ChatMessage]:
    """The system prompt and the new message always go in, even if they alone exceed the
    budget; history fills what is left, newest first, in whole units."""
    head = [ChatMessage("system", system_prompt)] if system_prompt else []
    tail = [ChatMessage("user", new_message)]
    used = sum(message_tokens(m, count_tokens) for m in head + tail)
    kept: list[Unit] = []
    for unit in reversed(history):
        cost = unit_tokens(unit, count_tokens)
        if used + cost > budget_tokens:
            break
        kept.append(unit)
        used += cost
    return head + [message for unit in reversed(kept) for message in unit] + tail
