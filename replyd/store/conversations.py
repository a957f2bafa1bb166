"""Conversations and their messages.

A conversation is written only together with its first exchange, so a request that fails
leaves no empty conversation behind."""

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store.tables import Conversation, Message


async def find_conversation(session: AsyncSession, assistant_id: int, customer_identifier: str) -> Conversation | None:
    return await session.scalar(
        select(Conversation).where(
            Conversation.assistant_id == assistant_id,
            Conversation.customer_identifier == customer_identifier,
        )
    )


async def recent_messages(session: AsyncSession, conversation_id: str, limit: int) -> list[Message]:
    """The newest ``limit`` messages, oldest first."""
    rows = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id.desc()).limit(limit)
    )
    return list(reversed(rows.all()))


async def save_conversation(
    session: AsyncSession,
    conversation_id: str,
    *,
    is_new: bool,
    assistant_id: int,
    customer_identifier: str,
    variables: dict[str, Any],
) -> None:
    """Insert the conversation on its first message, else store its merged variables."""
    now = utcnow()
    if is_new:
        session.add(
            Conversation(
                id=conversation_id,
                assistant_id=assistant_id,
                customer_identifier=customer_identifier,
                type="api",
                variables=variables,
                ai_disabled=False,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
    else:
        await session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(variables=variables, updated_at=now)
        )


async def set_ai_disabled(session: AsyncSession, conversation_id: str, disabled: bool) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(ai_disabled=disabled, updated_at=utcnow())
    )


async def add_message(
    session: AsyncSession,
    conversation_id: str,
    *,
    role: str,
    author: str,
    content: str,
    function_calls: list[Any] | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_micros: int = 0,
) -> Message:
    message = Message(
        conversation_id=conversation_id,
        role=role,
        author=author,
        content=content,
        function_calls=function_calls or [],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_micros=cost_micros,
        created_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    return message
