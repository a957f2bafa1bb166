"""Rolling summaries written ahead, off the reply's critical path.

When a turn's prompt passes the high-water mark (``context.HIGH_WATER`` of the budget) but
still fits, the turns the next cut would fold are summarised in the background once the
reply is stored. The summary waits on the conversation (``next_summary``) and the
conversation's next turn applies it, so that turn pays no summary call on its way to the
model. If the budget runs out before it lands, the turn summarises inline as before; the
summary written ahead, based on a mark that has moved, is then refused by the store.

One summary per conversation is in flight at a time in a process; across processes the
store's conditional update keeps the first. A refused or failed summary costs its tokens
but charges nothing (the conversation never used it). Shutdown waits for summaries in
flight (``drain``), so a stopping server leaves none half done."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine import context
from replyd.engine.context import Turn
from replyd.engine.prompt import recent_history
from replyd.engine.summary import summarize
from replyd.providers.base import Options, Provider
from replyd.store import conversations
from replyd.store.conversations import SummaryAhead
from replyd.telemetry import Telemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SummaryJob:
    """What to fold into the summary in place since message ``from_id``, and what the prompt
    after the cut will start with besides the new summary."""

    conversation_id: str
    from_id: int | None
    previous: str | None
    turns: Sequence[Turn]
    budget_tokens: int
    summarizer: tuple[Provider, str]
    system_prompt: str
    replier: tuple[Provider, str]


class SummariesAhead:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], telemetry: Telemetry) -> None:
        self._sessions = sessions
        self._telemetry = telemetry
        self._writing: dict[str, asyncio.Task[None]] = {}

    def start(self, job: SummaryJob) -> None:
        """Write ``job``'s summary in the background, unless one for its conversation is under way."""
        if job.conversation_id in self._writing:
            return
        task = asyncio.create_task(self._write(job), name=f"summary-ahead:{job.conversation_id}")
        self._writing[job.conversation_id] = task
        self._telemetry.summaries_in_flight.inc()
        task.add_done_callback(lambda _: self._written(job.conversation_id))

    def _written(self, conversation_id: str) -> None:
        self._writing.pop(conversation_id, None)
        self._telemetry.summaries_in_flight.dec()

    async def drain(self, timeout_s: float) -> None:
        """Wait for the summaries in flight, at most ``timeout_s``; those still running are cancelled."""
        tasks = list(self._writing.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            log.warning("%d summaries written ahead were cancelled at shutdown", len(late))
            await asyncio.wait(late)

    async def _write(self, job: SummaryJob) -> None:
        provider, model = job.summarizer
        try:
            max_tokens = context.summary_budget(job.budget_tokens)
            written = await summarize(provider, model, job.previous, job.turns, max_tokens)
            ahead = SummaryAhead(
                written.text.strip() or job.previous or "",
                job.turns[-1].message_id,
                written.usage.prompt_tokens,
                written.usage.completion_tokens,
            )
            async with self._sessions() as session, session.begin():
                stored = await conversations.offer_next_summary(session, job.conversation_id, job.from_id, ahead)
        except Exception:  # the task's boundary: nothing may end it unlogged
            # Nothing is lost: the conversation's next cut summarises inline instead.
            log.warning("a summary written ahead failed", exc_info=True)
            self._telemetry.summaries_ahead.labels("failed").inc()
            return
        self._telemetry.summaries_ahead.labels("stored" if stored else "refused").inc()
        if stored:
            await self._prepare_cut(job, ahead)

    async def _prepare_cut(self, job: SummaryJob, ahead: SummaryAhead) -> None:
        """Let the model evaluate the start of the prompt after the cut now: the new summary and
        the turns stored after it (the embedded model keeps that state; other providers ignore
        it), so the turn that cuts evaluates only the turns that come later."""
        provider, model = job.replier
        try:
            async with self._sessions() as session:
                kept = await recent_history(session, job.conversation_id, ahead.through_id, job.budget_tokens)
            head = context.head(job.system_prompt, ahead.text, kept)
            await provider.prepare(model, head, Options(cache_key=job.conversation_id))
        except Exception:  # as above: the cutting turn then evaluates the whole prompt itself
            log.warning("the prompt after a cut could not be prepared", exc_info=True)
