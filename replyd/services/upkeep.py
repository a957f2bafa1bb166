"""The database's upkeep, which every serving process does on its own: SQLite's statistics
refreshed when the process starts and every hour after, so its planner keeps picking the
index each list's filter was given as the tables grow; and Idempotency-Key answers deleted
once their window is over, a small batch at a time."""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from replyd.background import repeat
from replyd.clock import utcnow
from replyd.store import idempotency
from replyd.store.session import refresh_statistics

log = logging.getLogger(__name__)

STATISTICS_EVERY_S = 3600.0
"""SQLite's advice for long-lived connections: ``PRAGMA optimize`` every few hours at least;
it does nothing for tables that have not grown much since they were analysed."""
KEYS_EVERY_S = 60.0
KEYS_BATCH = 500
"""Keys deleted per transaction: each batch holds its locks (SQLite's one writer) only briefly,
so replies are not kept waiting behind a day's worth of deletions."""


class Upkeep:
    def __init__(self, db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], idempotency_ttl_s: int) -> None:
        self._db = db
        self._sessions = sessions
        self._idempotency_ttl = timedelta(seconds=idempotency_ttl_s)

    async def refresh_statistics(self) -> None:
        await refresh_statistics(self._db)

    async def forget_expired_keys(self) -> int:
        """Delete the Idempotency-Keys older than their window (a request repeating one is new
        by then anyway), batch after batch until none is left; how many."""
        before, deleted = utcnow() - self._idempotency_ttl, 0
        while True:
            async with self._sessions() as session, session.begin():
                batch = await idempotency.delete_expired(session, before, KEYS_BATCH)
            deleted += batch
            if batch < KEYS_BATCH:
                break
        if deleted:
            log.info("deleted %d expired Idempotency-Keys", deleted)
        return deleted

    async def run_forever(self) -> None:
        await asyncio.gather(
            repeat(STATISTICS_EVERY_S, self.refresh_statistics, "refreshing the database's statistics", at_once=True),
            repeat(KEYS_EVERY_S, self.forget_expired_keys, "deleting expired Idempotency-Keys"),
        )
