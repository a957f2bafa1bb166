"""The ledger: one entry per top-up and per charged reply. An account's balance is the sum of
its entries; ``accounts.balance_micros`` is kept equal to it in the same transaction, so the
balance check before a reply is one row read instead of a sum. The usage totals (per day and
assistant) are kept the same way, so usage never sums the whole ledger."""

from collections.abc import Callable
from datetime import date
from typing import TypeAlias

from sqlalchemy import Select, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store.session import Executor, on_postgresql
from replyd.store.tables import (
    ACCOUNTS,
    LEDGER_ENTRIES,
    USAGE_TOTALS,
    Account,
    LedgerEntry,
    UsageTotal,
    number_of,
    numbers_of,
)

DayTotal: TypeAlias = tuple[str, int, int]
"""(UTC day as YYYY-MM-DD, charged micros, replies)."""
AssistantTotal: TypeAlias = tuple[int, int, int]
"""(assistant id, charged micros, replies)."""

MOVE_BALANCE = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("charge_account"))
    .values(
        balance_micros=ACCOUNTS.c.balance_micros + bindparam("charge_amount"),
        reserved_micros=ACCOUNTS.c.reserved_micros - bindparam("charge_released"),
    )
)
INSERT_ENTRY = (
    insert(LEDGER_ENTRIES)
    .values(
        account_id=bindparam("charge_account"),
        kind=bindparam("charge_kind"),
        amount_micros=bindparam("charge_amount"),
        assistant_id=bindparam("charge_assistant"),
        conversation_number=number_of(bindparam("charge_conversation")),
        message_id=bindparam("charge_message"),
        prompt_tokens=bindparam("charge_prompt_tokens"),
        completion_tokens=bindparam("charge_completion_tokens"),
        created_at=bindparam("charge_at"),
    )
    .returning(LEDGER_ENTRIES.c.id)
)
"""Built once, as every charged reply runs them. Their parameters are named ``charge_...``, like
no column: SQLAlchemy takes a parameter named like a column of a statement's table for one more
value to set, and on PostgreSQL all three run as one statement (``CHARGE_REPLY``)."""


def _add_to_totals(insert_of: Callable[[Table], PostgresInsert | SqliteInsert]) -> PostgresInsert | SqliteInsert:
    """A reply counted in its day's and assistant's totals: the row made, or added to."""
    adding = insert_of(USAGE_TOTALS).values(
        account_id=bindparam("charge_account"),
        day=bindparam("charge_day"),
        assistant_id=bindparam("charge_assistant"),
        replies=1,
        spent_micros=bindparam("charge_spent"),
    )
    return adding.on_conflict_do_update(
        index_elements=[USAGE_TOTALS.c.account_id, USAGE_TOTALS.c.day, USAGE_TOTALS.c.assistant_id],
        set_={
            "replies": USAGE_TOTALS.c.replies + 1,
            "spent_micros": USAGE_TOTALS.c.spent_micros + adding.excluded.spent_micros,
        },
    )


ADD_TO_TOTALS = _add_to_totals(sqlite_insert)
"""On SQLite; on PostgreSQL it is part of ``CHARGE_REPLY``."""
CHARGE_REPLY = INSERT_ENTRY.add_cte(MOVE_BALANCE.cte("moved")).add_cte(_add_to_totals(postgresql_insert).cte("counted"))
"""On PostgreSQL, a reply's charge in one statement (data-modifying ``WITH``s, which SQLite has
not): the balance moved, the totals added to and the entry written. The account's row is locked
from the charge until the commit, and every reply of the account waits for it; one statement
instead of three makes that wait two round trips shorter (docs/performance.md)."""


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
    takes the place of its reservation (``released_micros``) and is added to the usage totals.
    The caller commits it all at once. Every charge locks the account's row and its totals'
    row in the same order (on SQLite one statement after another, on PostgreSQL within one),
    so two of them never deadlock."""
    now = utcnow()
    charge = {
        "charge_account": account_id,
        "charge_kind": kind,
        "charge_amount": amount_micros,
        "charge_released": released_micros,
        "charge_assistant": assistant_id,
        "charge_conversation": conversation_id,
        "charge_message": message_id,
        "charge_prompt_tokens": prompt_tokens,
        "charge_completion_tokens": completion_tokens,
        "charge_at": now,
        "charge_day": now.date(),
        "charge_spent": -amount_micros,
    }
    is_reply = kind == "reply" and assistant_id is not None
    if is_reply and on_postgresql(db):
        entry_id: int = (await db.execute(CHARGE_REPLY, charge)).scalar_one()
        return entry_id
    await db.execute(MOVE_BALANCE, charge)
    if is_reply:
        await db.execute(ADD_TO_TOTALS, charge)
    entry_id = (await db.execute(INSERT_ENTRY, charge)).scalar_one()
    return entry_id


async def anonymise_conversations(session: AsyncSession, conversation_ids: Select[str] | list[str]) -> int:
    """Erased conversations' charges stay, with their amounts, tokens and assistant, but no
    longer say which conversation or message they were for; how many."""
    result = await session.execute(
        update(LedgerEntry)
        .where(LedgerEntry.conversation_number.in_(numbers_of(conversation_ids)))
        .values(conversation_number=None, message_id=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


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


async def totals_per_day(session: AsyncSession, account_id: int, since: date, until: date) -> list[DayTotal]:
    """Charges per UTC day from ``since`` to ``until`` (both included) that had any, oldest
    first: a range of the totals' key, a row per assistant and day."""
    rows = await session.execute(
        select(UsageTotal.day, func.sum(UsageTotal.spent_micros), func.sum(UsageTotal.replies))
        .where(UsageTotal.account_id == account_id, UsageTotal.day.between(since, until))
        .group_by(UsageTotal.day)
        .order_by(UsageTotal.day)
    )
    return [(day.isoformat(), int(spent), int(replies)) for day, spent, replies in rows.all()]


async def totals_per_assistant(
    session: AsyncSession, account_id: int, since: date, until: date
) -> list[AssistantTotal]:
    """Charges per assistant from ``since`` to ``until`` (both included), the most charged first."""
    spent = func.sum(UsageTotal.spent_micros)
    rows = await session.execute(
        select(UsageTotal.assistant_id, spent, func.sum(UsageTotal.replies))
        .where(UsageTotal.account_id == account_id, UsageTotal.day.between(since, until))
        .group_by(UsageTotal.assistant_id)
        .order_by(spent.desc(), UsageTotal.assistant_id)
    )
    return [(assistant_id, int(amount), int(replies)) for assistant_id, amount, replies in rows.all()]
