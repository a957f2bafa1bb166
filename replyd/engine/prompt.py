"""The model input of one reply: the rendered system prompt, the rolling summary, the recent
turns and the new message, within the assistant's context budget (see ``context.py``).
When a cut is due, the cut turns are summarised first, and that summary is charged too."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from replyd.engine import context
from replyd.engine.summary import summarize
from replyd.engine.variables import Scalar, builtin_variables, render_prompt
from replyd.providers.base import ChatMessage, Provider, Usage


@dataclass(frozen=True)
class Prompt:
    messages: list[ChatMessage]
    summary: str | None
    summary_through_id: int | None
    """The last message folded into the summary; changed only when this turn made a cut."""
    usage: Usage
    """Tokens spent writing the summary (nothing when no cut happened)."""


@dataclass(frozen=True)
class Memory:
    """What the conversation remembers before this turn."""

    summary: str | None
    summary_through_id: int | None
    recent: Sequence[context.Turn]


def system_prompt(
    template: str, variables: dict[str, Scalar], customer: str, conversation_id: str, now: datetime
) -> str:
    return render_prompt(template, {**variables, **builtin_variables(customer, conversation_id, now)})


async def build_prompt(
    system: str,
    memory: Memory,
    new_message: str,
    budget_tokens: int,
    provider: Provider,
    summarizer: tuple[Provider, str],
) -> Prompt:
    count = provider.count_tokens
    plan = context.plan(system, memory.summary, memory.recent, new_message, budget_tokens, count)
    if not plan.fold:
        return Prompt(
            context.layout(system, memory.summary, plan.keep, new_message),
            memory.summary,
            memory.summary_through_id,
            Usage(),
        )
    summary_provider, summary_model = summarizer
    written = await summarize(
        summary_provider, summary_model, memory.summary, plan.fold, context.summary_budget(budget_tokens)
    )
    summary = written.text.strip() or memory.summary
    keep, through_id = list(plan.keep), plan.fold[-1].message_id
    messages = context.layout(system, summary, keep, new_message)
    while keep and not context.fits(messages, budget_tokens, count):  # an outsized summary or message
        through_id = keep.pop(0).message_id
        messages = context.layout(system, summary, keep, new_message)
    return Prompt(messages, summary, through_id, written.usage)
