"""The database's upkeep, which every serving process does on its own: SQLite's statistics
refreshed when the process starts and every hour after, so its planner keeps picking the
index each list's filter was given as the tables grow; Idempotency-Key answers deleted once
their window is over, a small batch at a time; and, in accounts that keep their conversations
for a number of days, the conversations idle longer than that erased, one at a time, as
``DELETE /api/conversations/{id}`` erases them; and events that nothing will send again
deleted with their deliveries' log once ``REPLYD_WEBHOOK_LOG_DAYS`` have passed."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from replyd.background import repeat
from replyd.clock import utcnow
from replyd.services.conversations import ConversationService
from replyd.store import accounts, conversations, events, idempotency
from replyd.store.session import refresh_statistics

log = logging.getLogger(__name__)

STATISTICS_EVERY_S = 3600.0
"""SQLite's advice for long-lived connections: ``PRAGMA optimize`` every few hours at least;
it does nothing for tables that have not grown much since they were analysed."""
KEYS_EVERY_S = 60.0
KEYS_BATCH = 500
"""Keys deleted per transaction: each batch holds its locks (SQLite's one writer) only briefly,
so replies are not kept waiting behind a day's worth of deletions."""
RETENTION_EVERY_S = 600.0
"""Retention is counted in days: a conversation erased up to ten minutes late is on time."""
RETENTION_BATCH = 100
"""Idle conversations looked up at a time; each is then erased in a transaction of its own,
under its lock, so a reply waits at most for one conversation's erasure."""
EVENTS_EVERY_S = 600.0
EVENTS_BATCH = 500
"""Events deleted per transaction (with their deliveries and attempts), oldest first."""


class Upkeep:
    def __init__(
        self,
        db: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        conversations: ConversationService,
        idempotency_ttl_s: int,
        event_log_days: int,
    ) -> None:
        self._db = db
        self._sessions = sessions
        self._conversations = conversations
        self._idempotency_ttl = timedelta(seconds=idempotency_ttl_s)
        self._event_log = timedelta(days=event_log_days) if event_log_days else None
        """None: events are kept for ever."""

    async def refresh_statistics(self) -> None:
        await refresh_statistics(self._db)

    async def forget_expired_keys(self) -> int:
        """Delete the Idempotency-Keys older than their window (a request repeating one is new
        by then anyway); how many."""
        before = utcnow() - self._idempotency_ttl
        deleted = await self._in_batches(lambda session: idempotency.delete_expired(session, before, KEYS_BATCH))
        if deleted:
            log.info("deleted %d expired Idempotency-Keys", deleted)
        return deleted

    async def forget_settled_events(self) -> int:
        """Delete the events older than the delivery log's days that nothing will send again,
        with their deliveries and attempts; how many."""
        if self._event_log is None:
            return 0
        before = utcnow() - self._event_log
        deleted = await self._in_batches(lambda session: events.delete_settled(session, before, EVENTS_BATCH))
        if deleted:
            log.info("deleted %d delivered events and their deliveries' log", deleted)
        return deleted

    async def _in_batches(self, delete: Callable[[AsyncSession], Awaitable[int]]) -> int:
        """``delete`` a batch in a transaction of its own, again until a batch finds nothing
        left; how many in all. Each transaction holds its locks (SQLite's one writer) briefly."""
        deleted = 0
        while True:
            async with self._sessions() as session, session.begin():
                batch = await delete(session)
            if not batch:
                return deleted
            deleted += batch

    async def erase_expired_conversations(self) -> int:
        """In every account with a retention (``conversation_retention_days``), erase the
        conversations idle for longer; how many."""
        async with self._sessions() as session:
            keeping = await accounts.with_retention(session)
        erased = 0
        for account_id, days in keeping:
            erased += await self._erase_idle(account_id, utcnow() - timedelta(days=days))
        if erased:
            log.info("erased %d conversations past their account's retention", erased)
        return erased

    async def _erase_idle(self, account_id: int, idle_since_before: datetime) -> int:
        """A conversation that spoke again since it was looked up is kept (``erase`` checks
        under its lock), and no longer idle, so it is not looked up again."""
        erased = 0
        while True:
            async with self._sessions() as session:
                batch = await conversations.idle_since_before(session, account_id, idle_since_before, RETENTION_BATCH)
            for conversation_id in batch:
                erasure = await self._conversations.erase(account_id, conversation_id, idle_since_before)
                erased += len(erasure.conversation_ids)
            if len(batch) < RETENTION_BATCH:
                return erased

    async def run_forever(self) -> None:
        await asyncio.gather(
            repeat(STATISTICS_EVERY_S, self.refresh_statistics, "refreshing the database's statistics", at_once=True),
            repeat(KEYS_EVERY_S, self.forget_expired_keys, "deleting expired Idempotency-Keys"),
            repeat(RETENTION_EVERY_S, self.erase_expired_conversations, "erasing conversations past retention"),
            repeat(EVENTS_EVERY_S, self.forget_settled_events, "deleting delivered events"),
        )
