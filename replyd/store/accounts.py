"""Accounts and their API tokens. A token is shown once and stored only as its SHA-256."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store import ledger
from replyd.store.tables import Account, ApiToken

TOKEN_PREFIX = "rpd_"


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str
    """The token itself: shown once, never stored."""


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_account(session: AsyncSession, name: str, balance_micros: int = 0) -> Account:
    account = Account(name=name, currency="EUR", balance_micros=0, created_at=utcnow())
    session.add(account)
    await session.flush()
    if balance_micros:
        await ledger.record(session, account.id, "top_up", balance_micros)
    return account


async def get_account(session: AsyncSession, account_id: int) -> Account | None:
    return await session.get(Account, account_id, populate_existing=True)


async def create_token(session: AsyncSession, account_id: int, rate_limit: str | None = None) -> NewToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        account_id=account_id,
        token_sha256=hash_token(secret),
        prefix=secret[:12],
        rate_limit=rate_limit,
        created_at=utcnow(),
    )
    session.add(token)
    await session.flush()
    return NewToken(token, secret)


async def find_active_token(session: AsyncSession, secret: str) -> ApiToken | None:
    """The unrevoked token with this secret. The hash lookup is exact; the final compare is
    constant-time so that timing tells nothing about stored hashes."""
    digest = hash_token(secret)
    token = await session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest))
    if token is None or token.revoked_at is not None:
        return None
    return token if hmac.compare_digest(token.token_sha256, digest) else None


async def revoke_token(session: AsyncSession, token_id: int) -> bool:
    result = await session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get_token(session: AsyncSession, token_id: int) -> ApiToken | None:
    return await session.get(ApiToken, token_id)
