"""What an account spent: its ledger, and totals per day and per assistant over a range of days."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.errors import FieldProblem, ValidationFailed
from replyd.services.cursors import ledger_cursor, read_ledger_cursor
from replyd.services.views import LedgerEntryView
from replyd.store import ledger
from replyd.store.ledger import AssistantTotal, DayTotal

DEFAULT_DAYS = 30
"""The totals' range when none is asked for: the last 30 UTC days, today's included."""
MAX_DAYS = 366
"""The longest range: a year of days, leap or not. It bounds the per-day list."""


@dataclass(frozen=True)
class Days:
    """UTC days from ``since`` to ``until``, both included."""

    since: date
    until: date

    @classmethod
    def of(cls, since: date | None, until: date | None) -> "Days":
        """The range asked for: ``until`` defaults to today, ``since`` to ``DEFAULT_DAYS`` up to
        ``until``. ``ValidationFailed`` if it runs backwards or over ``MAX_DAYS``."""
        until = until or utcnow().date()
        if since is None:
            if until < date.min + timedelta(days=DEFAULT_DAYS - 1):
                problem = f"leaves no room for the {DEFAULT_DAYS} days before it; give since too"
                raise ValidationFailed([FieldProblem("until", problem)])
            since = until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise ValidationFailed([FieldProblem("since", "must not be after until")])
        if (until - since).days >= MAX_DAYS:
            raise ValidationFailed([FieldProblem("since", f"the range may cover at most {MAX_DAYS} days")])
        return cls(since, until)


@dataclass(frozen=True)
class Usage:
    entries: list[LedgerEntryView]
    """Newest first."""
    next_cursor: str | None
    """Opaque; None when no older entries are left."""
    days: Days
    """What the totals cover."""
    per_day: list[DayTotal]
    per_assistant: list[AssistantTotal]


class UsageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def usage(self, account_id: int, per_page: int, cursor: str | None, days: Days) -> Usage:
        """A page of the ledger from where ``cursor`` points (a cursor replyd did not give out
        is ``ValidationFailed``), with the account's totals over ``days``: read from the totals
        kept as replies are charged, a few rows per day, however long the ledger."""
        before_id = read_ledger_cursor(cursor) if cursor else None
        async with self._sessions() as session:
            rows = await ledger.entries(session, account_id, per_page + 1, before_id)
            entries = [LedgerEntryView.of(row) for row in rows[:per_page]]
            return Usage(
                entries,
                ledger_cursor(entries[-1].id) if len(rows) > per_page else None,
                days,
                await ledger.totals_per_day(session, account_id, days.since, days.until),
                await ledger.totals_per_assistant(session, account_id, days.since, days.until),
            )
