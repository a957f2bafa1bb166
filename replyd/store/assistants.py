"""Assistants, always looked up through their account so one account never sees another's."""

from typing import Any

from sqlalchemy import ScalarSelect, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from replyd.clock import utcnow
from replyd.store import idempotency, ledger
from replyd.store.accounts import count_erasure, settings_changed
from replyd.store.events import Event
from replyd.store.tables import ASSISTANTS, Account, Assistant, Conversation, Message


async def create_assistant(session: AsyncSession, account_id: int, fields: dict[str, Any]) -> Assistant:
    now = utcnow()
    assistant = Assistant(account_id=account_id, created_at=now, updated_at=now, **fields)
    session.add(assistant)
    await session.flush()
    return assistant


GET_ASSISTANT = select(Assistant).where(
    Assistant.id == bindparam("assistant_id"), Assistant.account_id == bindparam("account_id")
)
"""Built once: every reply reads its assistant."""


async def get_assistant(session: AsyncSession, account_id: int | None, assistant_id: int) -> Assistant | None:
    """``account_id`` None looks in every account: for the operator's command line only."""
    if account_id is None:
        return await session.get(Assistant, assistant_id)
    found: Assistant | None = await session.scalar(
        GET_ASSISTANT, {"assistant_id": assistant_id, "account_id": account_id}
    )
    return found


READ_ASSISTANT = select(ASSISTANTS).where(
    ASSISTANTS.c.id == bindparam("assistant_id"), ASSISTANTS.c.account_id == bindparam("account_id")
)


async def read_assistant(db: AsyncConnection, account_id: int, assistant_id: int) -> Assistant | None:
    """The assistant, on a bare connection (the reply path's): an object of no session, which
    outlives the transaction."""
    row = (await db.execute(READ_ASSISTANT, {"assistant_id": assistant_id, "account_id": account_id})).first()
    return Assistant(**row._mapping) if row else None


async def list_assistants(session: AsyncSession, account_id: int) -> list[Assistant]:
    rows = await session.scalars(select(Assistant).where(Assistant.account_id == account_id).order_by(Assistant.id))
    return list(rows.all())


async def update_assistant(session: AsyncSession, assistant_id: int, fields: dict[str, Any]) -> None:
    await session.execute(update(Assistant).where(Assistant.id == assistant_id).values(updated_at=utcnow(), **fields))
    await settings_changed(session, _account_of(assistant_id))


async def delete_assistant(session: AsyncSession, assistant_id: int) -> None:
    """The assistant and its conversations with their messages, events and Idempotency-Key
    answers (their text); ledger entries stay, no longer naming them. What their messages still
    hold of the balance (replies whose process died) is given back. Its channels go by their
    foreign key, with what they kept."""
    await settings_changed(session, _account_of(assistant_id))
    await count_erasure(session, _account_of(assistant_id))
    conversation_ids = select(Conversation.id).where(Conversation.assistant_id == assistant_id)
    conversation_numbers = select(Conversation.number).where(Conversation.assistant_id == assistant_id)
    held = select(func.coalesce(func.sum(Message.reserved_micros), 0)).where(
        Message.conversation_number.in_(conversation_numbers)
    )
    await session.execute(
        update(Account)
        .where(Account.id == _account_of(assistant_id))
        .values(reserved_micros=Account.reserved_micros - held.scalar_subquery())
    )
    await session.execute(delete(Event).where(Event.conversation_id.in_(conversation_ids)))
    await idempotency.erase_conversations(session, conversation_ids)
    await ledger.anonymise_conversations(session, conversation_ids)
    await session.execute(delete(Message).where(Message.conversation_number.in_(conversation_numbers)))
    await session.execute(delete(Conversation).where(Conversation.assistant_id == assistant_id))
    await session.execute(delete(Assistant).where(Assistant.id == assistant_id))


def _account_of(assistant_id: int) -> ScalarSelect[int]:
    return select(Assistant.account_id).where(Assistant.id == assistant_id).scalar_subquery()
