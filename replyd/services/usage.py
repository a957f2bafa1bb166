"""What an account spent: its ledger, totals per day and per assistant."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.services.cursors import ledger_cursor, read_ledger_cursor
from replyd.services.views import LedgerEntryView
from replyd.store import ledger


@dataclass(frozen=True)
class Usage:
    entries: list[LedgerEntryView]
    """Newest first."""
    next_cursor: str | None
    """Opaque; None when no older entries are left."""
    per_day: list[tuple[str, int, int]]
    per_assistant: list[tuple[int | None, int, int]]


class UsageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def usage(self, account_id: int, per_page: int, cursor: str | None) -> Usage:
        """A page of the ledger from where ``cursor`` points (a cursor replyd did not give out
        is ``ValidationFailed``), with the account's totals."""
        before_id = read_ledger_cursor(cursor) if cursor else None
        async with self._sessions() as session:
            rows = await ledger.entries(session, account_id, per_page + 1, before_id)
            entries = [LedgerEntryView.of(row) for row in rows[:per_page]]
            return Usage(
                entries,
                ledger_cursor(entries[-1].id) if len(rows) > per_page else None,
                await ledger.totals_per_day(session, account_id),
                await ledger.totals_per_assistant(session, account_id),
            )
