"""The ledger: one entry per top-up and per charged reply. An account's balance is the sum of
its entries; ``accounts.balance_micros`` is kept equal to it in the same transaction, so the
balance check before a reply is one row read instead of a sum."""

from sqlalchemy import String, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store.session import Executor
from replyd.store.tables import ACCOUNTS, LEDGER_ENTRIES, Account, LedgerEntry

MOVE_BALANCE = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account_id"))
    .values(
        balance_micros=ACCOUNTS.c.balance_micros + bindparam("amount_micros"),
        reserved_micros=ACCOUNTS.c.reserved_micros - bindparam("released_micros"),
    )
)
INSERT_ENTRY = insert(LEDGER_ENTRIES).returning(LEDGER_ENTRIES.c.id)
"""Built once: every charged reply runs both."""


async def record(
    db: Executor,
    account_id: int,
    kind: str,
    amount_micros: int,
    *,
    assistant_id: int | None = None,
    conversation_id: str | None = None,
    message_id: int | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    released_micros: int = 0,
) -> int:
    """Add an entry and move the balance by the same amount; the entry's id. A reply's charge
    takes the place of its reservation (``released_micros``). The caller commits it all at once."""
    moved = {"account_id": account_id, "amount_micros": amount_micros, "released_micros": released_micros}
    await db.execute(MOVE_BALANCE, moved)
    entry = {
        "account_id": account_id,
        "kind": kind,
        "amount_micros": amount_micros,
        "assistant_id": assistant_id,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "created_at": utcnow(),
    }
    entry_id: int = (await db.execute(INSERT_ENTRY, entry)).scalar_one()
    return entry_id


async def balance_micros(session: AsyncSession, account_id: int) -> int:
    balance = await session.scalar(select(Account.balance_micros).where(Account.id == account_id))
    return balance or 0


async def ledger_sum_micros(session: AsyncSession, account_id: int) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_micros), 0)).where(LedgerEntry.account_id == account_id)
    )
    return int(total or 0)


async def entries(
    session: AsyncSession, account_id: int, limit: int, before_id: int | None = None
) -> list[LedgerEntry]:
    """Newest first; ``before_id`` continues below a cursor."""
    query = select(LedgerEntry).where(LedgerEntry.account_id == account_id)
    if before_id is not None:
        query = query.where(LedgerEntry.id < before_id)
    rows = await session.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit))
    return list(rows.all())


async def totals_per_day(session: AsyncSession, account_id: int) -> list[tuple[str, int, int]]:
    """(day, charged micros, replies) per UTC day with charges, oldest first."""
    day = func.substr(func.cast(LedgerEntry.created_at, String), 1, 10)
    rows = await session.execute(
        select(day, func.sum(-LedgerEntry.amount_micros), func.count())
        .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == "reply")
        .group_by(day)
        .order_by(day)
    )
    return [(str(d), int(amount), int(count)) for d, amount, count in rows.all()]


async def totals_per_assistant(session: AsyncSession, account_id: int) -> list[tuple[int | None, int, int]]:
    """(assistant id, charged micros, replies) per assistant, the most charged first."""
    rows = await session.execute(
        select(LedgerEntry.assistant_id, func.sum(-LedgerEntry.amount_micros), func.count())
        .where(LedgerEntry.account_id == account_id, LedgerEntry.kind == "reply")
        .group_by(LedgerEntry.assistant_id)
        .order_by(func.sum(-LedgerEntry.amount_micros).desc(), LedgerEntry.assistant_id)
    )
    return [(assistant_id, int(amount), int(count)) for assistant_id, amount, count in rows.all()]
