"""The model input of one reply: the rendered system prompt, the rolling summary, the recent
turns and the new message, within the assistant's context budget (see ``context.py``).
When a cut is due, the summary written ahead for it is applied, or else (or if that is not
enough) the cut turns are summarised first, inline; either way the turn pays for the summary."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from replyd.engine import context
from replyd.engine.summary import summarize
from replyd.engine.variables import Scalar, builtin_variables, render_prompt
from replyd.providers.base import MESSAGE_OVERHEAD_TOKENS, ChatMessage, Provider, Usage
from replyd.store import conversations
from replyd.store.conversations import StoredTurn, SummaryAhead


@dataclass(frozen=True)
class Prompt:
    messages: list[ChatMessage]
    summary: str | None
    summary_through_id: int | None
    """The last message folded into the summary; changed only when this turn made a cut."""
    usage: Usage
    """Tokens spent writing the summary this turn applied (nothing when no cut happened)."""
    fold_ahead: list[context.Turn]
    """Turns whose summary will be due soon, to write ahead (see ``summary_ahead.py``); none
    while a summary written ahead waits."""
    cut: Literal["ahead", "inline"] | None = None
    """How this turn's cut got its summary: written ahead, or inline (None: no cut)."""


@dataclass(frozen=True)
class Memory:
    """What the conversation remembers before this turn."""

    summary: str | None
    summary_through_id: int | None
    recent: Sequence[context.Turn]
    ahead: SummaryAhead | None = None
    """A summary written ahead since the last turn, not applied yet."""


def history_limit(budget_tokens: int) -> int:
    """How many stored messages after the summary's mark to read. Between cuts they never
    exceed the budget, so twice the most that could fit is plenty (older ones, say after the
    budget shrank, are left to the summary's mark)."""
    return 2 * (budget_tokens // (MESSAGE_OVERHEAD_TOKENS + 1) + 1)


async def recent_history(
    session: AsyncSession, conversation_id: str, after_id: int | None, budget_tokens: int
) -> list[context.Turn]:
    """The stored turns after the summary's mark ``after_id``."""
    return as_turns(await conversations.recent_turns(session, conversation_id, history_limit(budget_tokens), after_id))


def as_turns(rows: Sequence[StoredTurn]) -> list[context.Turn]:
    return [stored_turn(row.id, row.role, row.content, row.function_calls) for row in rows]


def stored_turn(message_id: int, role: str, content: str, function_calls: list[dict[str, Any]]) -> context.Turn:
    return context.Turn(message_id, context.stored_unit(message_id, role, content, function_calls))


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
    plan = context.plan(system, memory.summary, memory.recent, new_message, budget_tokens, provider)
    usage: Usage = Usage()
    cut: Literal["ahead", "inline"] | None = None
    if plan.fold and memory.ahead is not None:
        usage, cut = Usage(memory.ahead.prompt_tokens, memory.ahead.completion_tokens), "ahead"
        memory = _apply_summary_ahead(memory)
        plan = context.plan(system, memory.summary, memory.recent, new_message, budget_tokens, provider)
    if not plan.fold:
        messages = context.layout(system, memory.summary, plan.keep, new_message)
        fold_ahead = plan.fold_ahead if memory.ahead is None else []
        return Prompt(messages, memory.summary, memory.summary_through_id, usage, fold_ahead, cut)
    summary_provider, summary_model = summarizer
    written = await summarize(
        summary_provider, summary_model, memory.summary, plan.fold, context.summary_budget(budget_tokens)
    )
    summary = written.text.strip() or memory.summary
    keep, through_id = list(plan.keep), plan.fold[-1].message_id
    messages = context.layout(system, summary, keep, new_message)
    while keep and not context.fits(messages, budget_tokens, provider):  # an outsized summary or message
        through_id = keep.pop(0).message_id
        messages = context.layout(system, summary, keep, new_message)
    return Prompt(messages, summary, through_id, usage + written.usage, [], "inline")


def _apply_summary_ahead(memory: Memory) -> Memory:
    """The summary written ahead takes the summary's place and the turns it covers leave."""
    assert memory.ahead is not None
    recent = [turn for turn in memory.recent if turn.message_id > memory.ahead.through_id]
    return Memory(memory.ahead.text, memory.ahead.through_id, recent)
