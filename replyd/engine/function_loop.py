"""Ask the model, run the functions it calls, feed their results back, and repeat until it
answers in text: at most ``max_rounds`` rounds with tools, then one last call without."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from replyd.functions.toolbox import Toolbox
from replyd.providers.base import ChatMessage, Options, Provider, Usage
from replyd.telemetry import Telemetry


@dataclass(frozen=True)
class Answer:
    text: str
    usage: Usage
    """Tokens of every round, all charged."""
    function_calls: list[dict[str, Any]] = field(default_factory=list)
    failed_calls: list[dict[str, Any]] = field(default_factory=list)
    """The calls whose webhook failed, each with its error (``function.failed`` tells of them)."""
    handed_off: bool = False
    handoff_reason: str | None = None
    """As the model gave it in its handoff call."""


async def answer(
    provider: Provider,
    model: str,
    messages: list[ChatMessage],
    options: Options,
    toolbox: Toolbox,
    max_rounds: int,
    handoff_text: str,
    telemetry: Telemetry,
) -> Answer:
    usage = Usage()
    calls: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for _ in range(max_rounds):
        completion = await provider.complete(model, messages, options, toolbox.tools)
        usage += completion.usage
        if not completion.tool_calls:
            return Answer(completion.text, usage, calls, failed)
        outcomes = await asyncio.gather(*(toolbox.run(call) for call in completion.tool_calls))
        messages = [
            *messages,
            ChatMessage("assistant", completion.text, completion.tool_calls),
            *(
                ChatMessage("tool", json.dumps(o.result), tool_call_id=call.id)
                for call, o in zip(completion.tool_calls, outcomes, strict=True)
            ),
        ]
        calls.extend(o.record() for o in outcomes)
        failed.extend(o.failure() for o in outcomes if o.kind == "error")
        for outcome in outcomes:
            telemetry.function_calls.labels(outcome.kind).inc()
        handoff = next((o for o in outcomes if o.is_handoff), None)
        if handoff is not None:
            return Answer(handoff_text, usage, calls, failed, handed_off=True, handoff_reason=handoff.reason)
    final = await provider.complete(model, messages, options)
    return Answer(final.text, usage + final.usage, calls, failed)
