"""Accounts, their balance and their API tokens: the operator's command line creates and tops
them up, the API and the console read them and authenticate with them."""

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.errors import FieldProblem, NotFound, ValidationFailed
from replyd.functions.signing import new_webhook_secret
from replyd.limits import parse_rate
from replyd.services.views import AccountView
from replyd.store import accounts, ledger
from replyd.store.tables import Account, ApiToken

SCOPES = accounts.SCOPES
MAX_NAME_CHARS = 80
MAX_RETENTION_DAYS = 36_500
"""A hundred years: beyond that, keeping for ever (None) says it better."""


class AccountChanges(TypedDict, total=False):
    """An account's own settings to change; those left out keep their values."""

    balance_low_micros: int | None
    """A charge that takes the balance below this sends ``account.balance_low``; None: never."""
    conversation_retention_days: int | None
    """Conversations idle longer than this many days are erased by the upkeep
    (``services/upkeep.py``); None: kept for ever."""


@dataclass(frozen=True)
class NewToken:
    token_id: int
    account_id: int
    scope: str
    secret: str
    """The token itself: shown once, never stored."""
    name: str | None = None


@dataclass(frozen=True)
class NewAccount:
    account: AccountView
    token: NewToken
    """Its first token, scope admin."""
    webhook_secret: str


@dataclass(frozen=True)
class TokenView:
    """An unrevoked token as a request sees it."""

    id: int
    account_id: int
    scope: str
    rate_limit: str | None
    """None: the server's default."""

    @classmethod
    def of(cls, row: ApiToken) -> "TokenView":
        return cls(row.id, row.account_id, row.scope, row.rate_limit)


@dataclass(frozen=True)
class TokenListing:
    """A token as its account's admins see it: never the secret, only its first characters."""

    id: int
    prefix: str
    scope: str
    rate_limit: str | None
    created_at: datetime
    revoked_at: datetime | None
    name: str | None

    @classmethod
    def of(cls, row: ApiToken) -> "TokenListing":
        return cls(row.id, row.prefix, row.scope, row.rate_limit, row.created_at, row.revoked_at, row.name)


class AccountService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, name: str, balance_micros: int) -> NewAccount:
        """An account with an opening balance (a ledger entry) and its first, admin, token."""
        _check(balance_micros >= 0, "balance", "an opening balance cannot be negative")
        async with self._sessions() as session, session.begin():
            row = await accounts.create_account(session, name, balance_micros, new_webhook_secret())
            token = await _new_token(session, row.id, None, "admin")
            return NewAccount(AccountView.of(row), token, row.webhook_secret)

    async def exists_any(self) -> bool:
        async with self._sessions() as session:
            return bool(await session.scalar(select(func.count()).select_from(Account)))

    async def get(self, account_id: int) -> AccountView:
        async with self._sessions() as session:
            return AccountView.of(await _find(session, account_id))

    async def top_up(self, account_id: int, amount_micros: int) -> AccountView:
        _check(amount_micros > 0, "amount", "a top-up must be a positive amount")
        async with self._sessions() as session, session.begin():
            await _find(session, account_id)
            await ledger.record(session, account_id, "top_up", amount_micros)
        return await self.get(account_id)

    async def change(self, account_id: int, changes: "AccountChanges") -> AccountView:
        """The account's own settings sent in ``changes``, checked all before any is written."""
        if "balance_low_micros" in changes:
            threshold = changes["balance_low_micros"]
            _check(threshold is None or threshold > 0, "balance_low_threshold", "must be above zero")
        if "conversation_retention_days" in changes:
            days = changes["conversation_retention_days"]
            _check(
                days is None or 1 <= days <= MAX_RETENTION_DAYS,
                "conversation_retention_days",
                f"must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, or null to keep them for ever",
            )
        async with self._sessions() as session, session.begin():
            await _find(session, account_id)
            if "balance_low_micros" in changes:
                await accounts.set_balance_low(session, account_id, changes["balance_low_micros"])
            if "conversation_retention_days" in changes:
                await accounts.set_retention(session, account_id, changes["conversation_retention_days"])
        return await self.get(account_id)

    async def rotate_webhook_secret(self, account_id: int) -> str:
        """Calls are signed with the new secret at once, and with the old one too for a day
        (``ROTATION_OVERLAP``), so receivers can switch over without refusing any."""
        async with self._sessions() as session, session.begin():
            await _find(session, account_id)
            secret = new_webhook_secret()
            await accounts.rotate_webhook_secret(session, account_id, secret)
        return secret

    async def create_token(
        self, account_id: int, scope: str, rate_limit: str | None, name: str | None = None
    ) -> NewToken:
        """``name``: whose it is; an ``operator`` token must have one (the console shows it)."""
        _check(scope in SCOPES, "scope", f"{scope!r} is not a scope; use one of: {', '.join(SCOPES)}")
        name = " ".join((name or "").split()) or None
        _check(name is not None or scope != "operator", "name", "must be given for an operator token: whose is it?")
        _check(name is None or len(name) <= MAX_NAME_CHARS, "name", f"must be at most {MAX_NAME_CHARS} characters")
        if rate_limit is not None:
            try:
                parse_rate(rate_limit)
            except ValueError as exc:
                raise ValidationFailed([FieldProblem("rate_limit", str(exc))]) from None
        async with self._sessions() as session, session.begin():
            await _find(session, account_id)
            return await _new_token(session, account_id, rate_limit, scope, name)

    async def tokens(self, account_id: int) -> list[TokenListing]:
        async with self._sessions() as session:
            return [TokenListing.of(row) for row in await accounts.list_tokens(session, account_id)]

    async def revoke_token(self, token_id: int, account_id: int | None = None) -> bool:
        """Requests with it get 401 from then on, in every process; False if it already was.
        ``account_id``: the account's own admin (API, console), who may not revoke another
        account's token, nor the account's last admin token (nothing would be left to sign in
        with); None: the operator's command line, who may."""
        async with self._sessions() as session, session.begin():
            row = await accounts.get_token(session, token_id)
            if row is None or account_id not in (None, row.account_id):
                raise NotFound(f"There is no token {token_id}.")
            if account_id is not None and row.scope == "admin" and row.revoked_at is None:
                admins = [t for t in await accounts.list_tokens(session, account_id) if t.scope == "admin"]
                _check(
                    sum(t.revoked_at is None for t in admins) > 1,
                    "token_id",
                    "is the account's last admin token; create another admin token first",
                )
            return await accounts.revoke_token(session, token_id)

    async def active_token(self, secret: str) -> TokenView | None:
        async with self._sessions() as session:
            row = await accounts.find_active_token(session, secret)
        return None if row is None else TokenView.of(row)

    async def token(self, token_id: int) -> TokenView | None:
        async with self._sessions() as session:
            row = await accounts.get_token(session, token_id)
        return None if row is None else TokenView.of(row)


def _check(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise ValidationFailed([FieldProblem(field, problem)])


async def _find(session: AsyncSession, account_id: int) -> Account:
    row = await accounts.get_account(session, account_id)
    if row is None:
        raise NotFound(f"There is no account {account_id}.")
    return row


async def _new_token(
    session: AsyncSession, account_id: int, rate_limit: str | None, scope: str, name: str | None = None
) -> NewToken:
    new = await accounts.create_token(session, account_id, rate_limit, scope, name)
    return NewToken(new.token.id, account_id, scope, new.secret, name)
