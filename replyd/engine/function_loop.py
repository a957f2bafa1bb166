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
    handed_off: bool = False


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
    for _ in range(max_rounds):
        completion = await provider.complete(model, messages, options, toolbox.tools)
        usage += completion.usage
        if not completion.tool_calls:
            return Answer(completion.text, usage, calls)
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
        for outcome in outcomes:
            telemetry.function_calls.labels(outcome.kind).inc()
        if any(o.is_handoff for o in outcomes):
            return Answer(handoff_text, usage, calls, handed_off=True)
    final = await provider.complete(model, messages, options)
    return Answer(final.text, usage + final.usage, calls)
