"""Assistants, always looked up through their account so one account never sees another's."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store.tables import Assistant


async def create_assistant(session: AsyncSession, account_id: int, fields: dict[str, Any]) -> Assistant:
    now = utcnow()
    assistant = Assistant(account_id=account_id, created_at=now, updated_at=now, **fields)
    session.add(assistant)
    await session.flush()
    return assistant


async def get_assistant(session: AsyncSession, account_id: int, assistant_id: int) -> Assistant | None:
    return await session.scalar(
        select(Assistant).where(Assistant.id == assistant_id, Assistant.account_id == account_id)
    )
