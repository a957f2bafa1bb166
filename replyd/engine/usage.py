"""What an account has and spent: its balance, its ledger, totals per day and per assistant."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.errors import NotFound
from replyd.store import accounts, ledger
from replyd.store.tables import Account, LedgerEntry


@dataclass(frozen=True)
class Usage:
    entries: list[LedgerEntry]
    per_day: list[tuple[str, int, int]]
    per_assistant: list[tuple[int | None, int, int]]


class UsageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def account(self, account_id: int) -> Account:
        async with self._sessions() as session:
            account = await accounts.get_account(session, account_id)
        if account is None:
            raise NotFound("The token's account no longer exists.")
        return account

    async def usage(self, account_id: int, limit: int, before_id: int | None) -> Usage:
        async with self._sessions() as session:
            return Usage(
                await ledger.entries(session, account_id, limit, before_id),
                await ledger.totals_per_day(session, account_id),
                await ledger.totals_per_assistant(session, account_id),
            )
