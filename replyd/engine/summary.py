"""The rolling summary: what turns cut from the recent history said, rewritten by a model
together with the previous summary, so the assistant still knows it after the cut."""

from collections.abc import Sequence

from replyd.engine.context import Turn
from replyd.providers.base import ChatMessage, Completion, Options, Provider

INSTRUCTIONS = (
    "You keep the memory of a conversation between a customer and an assistant. Write a new "
    "summary from the earlier summary and the transcript below. Keep every name, fact, number, "
    "date, order, booking, promise and open question; drop greetings and small talk. Plain "
    "sentences, at most {words} words."
)
WORDS_PER_TOKEN = 0.75


def transcript(turns: Sequence[Turn]) -> str:
    lines = []
    for turn in turns:
        for message in turn.unit:
            if message.role == "tool":
                lines.append(f"(function result: {message.content})")
            elif message.tool_calls:
                lines.extend(f"(assistant called {c.name} with {c.arguments})" for c in message.tool_calls)
            elif message.content:
                lines.append(f"{'Customer' if message.role == 'user' else 'Assistant'}: {message.content}")
    return "\n".join(lines)


async def summarize(
    provider: Provider, model: str, previous: str | None, turns: Sequence[Turn], max_tokens: int
) -> Completion:
    """Deterministic settings (temperature 0) and no cache key: a summary is written once."""
    request = f"Earlier summary:\n{previous or '(none)'}\n\nTranscript:\n{transcript(turns)}"
    messages = [
        ChatMessage("system", INSTRUCTIONS.format(words=int(max_tokens * WORDS_PER_TOKEN))),
        ChatMessage("user", request),
    ]
    return await provider.complete(model, messages, Options(temperature=0, max_tokens=max_tokens))
