"""Idempotency keys: the first request with a key runs, later ones with the same key and
body get its stored answer. Kept in the database so every server process sees them."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store.session import Executor, insert_or_skip
from replyd.store.tables import IdempotencyRecord

ClaimState = Literal["claimed", "replay", "mismatch", "running"]


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    status_code: int | None = None
    response: dict[str, Any] | None = None


def _age(created_at: datetime) -> timedelta:
    return utcnow() - created_at


async def claim(
    session: AsyncSession, account_id: int, key: str, request_sha256: str, *, ttl_s: int, lease_s: float
) -> Claim:
    """Take the key for this request, or say why not. A running claim older than ``lease_s``
    belonged to a process that died and is taken over; one older than ``ttl_s`` is forgotten."""
    if await _insert_new(session, account_id, key, request_sha256):
        return Claim("claimed")
    record = await session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key)
    )
    if record is None:  # deleted meanwhile by a failed first request: try again
        return await claim(session, account_id, key, request_sha256, ttl_s=ttl_s, lease_s=lease_s)
    age = _age(record.created_at)
    is_expired = age > timedelta(seconds=ttl_s)
    is_abandoned = record.status_code is None and age > timedelta(seconds=lease_s)
    if is_expired or is_abandoned:
        return await _take_over(session, record, request_sha256)
    if record.request_sha256 != request_sha256:
        return Claim("mismatch")
    if record.status_code is None:
        return Claim("running")
    return Claim("replay", record.status_code, record.response)


async def _insert_new(session: AsyncSession, account_id: int, key: str, request_sha256: str) -> bool:
    """Insert the key unless it exists (one statement, no failed transaction to roll back)."""
    result = await session.execute(
        insert_or_skip(session, IdempotencyRecord)
        .values(account_id=account_id, key=key, request_sha256=request_sha256, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _take_over(session: AsyncSession, record: IdempotencyRecord, request_sha256: str) -> Claim:
    result = await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.account_id == record.account_id,
            IdempotencyRecord.key == record.key,
            IdempotencyRecord.created_at == record.created_at,
        )
        .values(request_sha256=request_sha256, status_code=None, response=None, created_at=utcnow())
    )
    return Claim("claimed") if result.rowcount else Claim("running")  # type: ignore[attr-defined]


async def renew(session: AsyncSession, account_id: int, key: str) -> None:
    """Show that the claim's request still runs, so no retry takes it over."""
    await session.execute(
        update(IdempotencyRecord)
        .where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status_code.is_(None),
        )
        .values(created_at=utcnow())
    )


async def complete(
    db: Executor, account_id: int, key: str, status_code: int, response: dict[str, Any], conversation_id: str
) -> None:
    """Store the answer, given in ``conversation_id``; called inside the transaction that stores
    the exchange itself."""
    await db.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.account_id == account_id, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=response, conversation_id=conversation_id)
    )


async def erase_conversations(session: AsyncSession, conversation_ids: Select[str] | list[str]) -> None:
    """The keys whose stored answers were given in erased conversations (they hold their replies)."""
    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.conversation_id.in_(conversation_ids)))


async def release(session: AsyncSession, account_id: int, key: str) -> None:
    """Forget a key whose request failed, so that a retry runs afresh."""
    await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.account_id == account_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.status_code.is_(None),
        )
    )


async def delete_expired(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` keys claimed before ``before``, the oldest first (a range of the
    created_at index); how many. A key taken over meanwhile by a new request is claimed anew
    and kept: the age is checked again on the row deleted."""
    oldest = (
        select(IdempotencyRecord.account_id, IdempotencyRecord.key)
        .where(IdempotencyRecord.created_at < before)
        .order_by(IdempotencyRecord.created_at)
        .limit(limit)
    )
    result = await session.execute(
        delete(IdempotencyRecord).where(
            tuple_(IdempotencyRecord.account_id, IdempotencyRecord.key).in_(oldest),
            IdempotencyRecord.created_at < before,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
