"""The database's upkeep, which every serving process does on its own: SQLite's statistics
refreshed when the process starts and every hour after, so its planner keeps picking the
index each list's filter was given as the tables grow."""

from sqlalchemy.ext.asyncio import AsyncEngine

from replyd.background import repeat
from replyd.store.session import refresh_statistics

STATISTICS_EVERY_S = 3600.0
"""SQLite's advice for long-lived connections: ``PRAGMA optimize`` every few hours at least;
it does nothing for tables that have not grown much since they were analysed."""


class Upkeep:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db

    async def refresh_statistics(self) -> None:
        await refresh_statistics(self._db)

    async def run_forever(self) -> None:
        await repeat(STATISTICS_EVERY_S, self.refresh_statistics, "refreshing the database's statistics", at_once=True)
