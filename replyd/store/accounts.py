"""Accounts and their API tokens. A token is shown once and stored only as its SHA-256."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ScalarSelect, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store import ledger
from replyd.store.session import Executor
from replyd.store.tables import ACCOUNTS, API_TOKENS, Account, ApiToken

TOKEN_PREFIX = "rpd_"


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str
    """The token itself: shown once, never stored."""


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_account(session: AsyncSession, name: str, balance_micros: int, webhook_secret: str) -> Account:
    account = Account(name=name, currency="EUR", balance_micros=0, webhook_secret=webhook_secret, created_at=utcnow())
    session.add(account)
    await session.flush()
    if balance_micros:
        await ledger.record(session, account.id, "top_up", balance_micros)
    return account


async def get_account(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id, populate_existing=True)


@dataclass(frozen=True)
class Funds:
    """What a reply needs of its account, read in one statement."""

    balance_micros: int
    reserved_micros: int
    webhook_secret: str
    settings_version: int
    previous_webhook_secret: str | None
    webhook_secret_rotated_at: datetime | None
    balance_low_micros: int | None


RESERVE = (
    update(ACCOUNTS)
    .where(
        ACCOUNTS.c.id == bindparam("account_id"),
        ACCOUNTS.c.balance_micros - ACCOUNTS.c.reserved_micros >= bindparam("amount_micros"),
    )
    .values(reserved_micros=ACCOUNTS.c.reserved_micros + bindparam("amount_micros"))
)
RESERVE_BACK = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account_id"))
    .values(reserved_micros=ACCOUNTS.c.reserved_micros - bindparam("amount_micros"))
)
GET_FUNDS = select(
    ACCOUNTS.c.balance_micros,
    ACCOUNTS.c.reserved_micros,
    ACCOUNTS.c.webhook_secret,
    ACCOUNTS.c.settings_version,
    ACCOUNTS.c.previous_webhook_secret,
    ACCOUNTS.c.webhook_secret_rotated_at,
    ACCOUNTS.c.balance_low_micros,
).where(ACCOUNTS.c.id == bindparam("id"))
FIND_TOKEN = select(ApiToken).where(ApiToken.token_sha256 == bindparam("digest"))
ACTIVE_TOKEN_ACCOUNT = select(API_TOKENS.c.account_id).where(
    API_TOKENS.c.id == bindparam("id"), API_TOKENS.c.revoked_at.is_(None)
)
"""Built once: every reply reads them."""


async def reserve(db: Executor, account_id: int, amount_micros: int) -> bool:
    """Hold ``amount_micros`` of the balance for a reply in progress, if that much is not held
    already; one conditional statement, so two replies can never both take the last of it."""
    result = await db.execute(RESERVE, {"account_id": account_id, "amount_micros": amount_micros})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(db: Executor, account_id: int, amount_micros: int) -> None:
    """Give back a reservation whose reply will not be charged (it failed, or was abandoned)."""
    if amount_micros:
        await db.execute(RESERVE_BACK, {"account_id": account_id, "amount_micros": amount_micros})


BALANCE_AND_CURRENCY = select(ACCOUNTS.c.balance_micros, ACCOUNTS.c.currency).where(ACCOUNTS.c.id == bindparam("id"))


async def balance_and_currency(db: Executor, account_id: int) -> tuple[int, str]:
    balance, currency = (await db.execute(BALANCE_AND_CURRENCY, {"id": account_id})).one()
    return balance, currency


async def set_balance_low(session: AsyncSession, account_id: int, threshold_micros: int | None) -> None:
    """Below ``threshold_micros`` a charge sends ``account.balance_low``; None: never."""
    await session.execute(update(Account).where(Account.id == account_id).values(balance_low_micros=threshold_micros))


async def set_retention(session: AsyncSession, account_id: int, days: int | None) -> None:
    """Conversations idle longer than ``days`` are erased from now on; None: kept for ever."""
    await session.execute(update(Account).where(Account.id == account_id).values(conversation_retention_days=days))


async def with_retention(session: AsyncSession) -> list[tuple[int, int]]:
    """(account id, retention days) of every account that keeps its conversations for a time."""
    rows = await session.execute(
        select(Account.id, Account.conversation_retention_days)
        .where(Account.conversation_retention_days.is_not(None))
        .order_by(Account.id)
    )
    return [(account_id, days) for account_id, days in rows.all() if days is not None]


async def get_funds(db: Executor, account_id: int) -> Funds:
    row = (await db.execute(GET_FUNDS, {"id": account_id})).first()
    return Funds(*row) if row else Funds(0, 0, "", 0, None, None, None)


SCOPES = ("admin", "replies", "operator")
"""``operator``: a named person of the account, who signs in to the console only."""


async def create_token(
    session: AsyncSession,
    account_id: int,
    rate_limit: str | None = None,
    scope: str = "admin",
    name: str | None = None,
) -> NewToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        account_id=account_id,
        token_sha256=hash_token(secret),
        prefix=secret[:12],
        rate_limit=rate_limit,
        scope=scope,
        name=name,
        created_at=utcnow(),
    )
    session.add(token)
    await session.flush()
    return NewToken(token, secret)


async def find_active_token(session: AsyncSession, secret: str) -> ApiToken | None:
    """The unrevoked token with this secret. The hash lookup is exact; the final compare is
    constant-time so that timing tells nothing about stored hashes."""
    digest = hash_token(secret)
    token: ApiToken | None = await session.scalar(FIND_TOKEN, {"digest": digest})
    if token is None or token.revoked_at is not None:
        return None
    return token if hmac.compare_digest(token.token_sha256, digest) else None


async def revoke_token(session: AsyncSession, token_id: int) -> bool:
    result = await session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await settings_changed(session, select(ApiToken.account_id).where(ApiToken.id == token_id).scalar_subquery())
    return True


async def settings_changed(session: AsyncSession, account_id: int | ScalarSelect[int]) -> None:
    """Move the account's settings version on, so that no process keeps using what it cached
    of the account's tokens, assistants and endpoints (a revoked token, an assistant as it was)."""
    await session.execute(
        update(Account).where(Account.id == account_id).values(settings_version=Account.settings_version + 1)
    )


async def count_erasure(session: AsyncSession, account_id: int | ScalarSelect[int]) -> None:
    """An erasure of the account's conversations: the console's live pages refresh all they show."""
    await session.execute(
        update(Account).where(Account.id == account_id).values(conversations_erased=Account.conversations_erased + 1)
    )


async def get_token(session: AsyncSession, token_id: int) -> ApiToken | None:
    return await session.get(ApiToken, token_id)


async def list_tokens(session: AsyncSession, account_id: int) -> list[ApiToken]:
    """The account's tokens, revoked ones too, newest first."""
    rows = await session.scalars(select(ApiToken).where(ApiToken.account_id == account_id).order_by(ApiToken.id.desc()))
    return list(rows.all())


async def active_token_account(db: Executor, token_id: int) -> int | None:
    """The account of the token, unless it is revoked (or gone)."""
    account_id: int | None = (await db.execute(ACTIVE_TOKEN_ACCOUNT, {"id": token_id})).scalar()
    return account_id


async def rotate_webhook_secret(session: AsyncSession, account_id: int, secret: str) -> None:
    """``secret`` becomes the current one; the one it replaces is kept as the previous, with the time."""
    await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(
            webhook_secret=secret, previous_webhook_secret=Account.webhook_secret, webhook_secret_rotated_at=utcnow()
        )
    )
