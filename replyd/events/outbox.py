"""Writing events into the outbox, in the transaction of the change they report: committed
together, or not at all, so that no event is lost when a process dies right after a change
and none reports a change that was rolled back. An account without an endpoint that takes
the type gets no event (nothing would deliver it)."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from replyd.events.types import new_event_id
from replyd.store import events
from replyd.store.tables import Conversation, Message


async def emit(
    session: AsyncSession, account_id: int, type: str, data: dict[str, Any], conversation_id: str | None = None
) -> None:
    if await events.is_subscribed(session, account_id, type):
        await events.record_event(
            session, account_id, type, data, public_id=new_event_id(), conversation_id=conversation_id
        )


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    """What every conversation event says of its conversation, so a receiver needs no call back."""
    return {
        "id": conversation.id,
        "assistant_id": conversation.assistant_id,
        "customer_identifier": conversation.customer_identifier,
        "type": conversation.type,
        "ai_enabled": not conversation.ai_disabled,
        "variables": conversation.variables,
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "author": message.author,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }
