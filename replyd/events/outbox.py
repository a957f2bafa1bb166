"""Writing events into the outbox, in the transaction of the change they report: committed
together, or not at all, so that no event is lost when a process dies right after a change
and none reports a change that was rolled back. An account without an endpoint that takes
the type gets no event (nothing would deliver it)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from replyd.events.types import new_event_id
from replyd.store import events
from replyd.store.session import Executor


@dataclass(frozen=True)
class Subscriptions:
    """The event types an account's enabled endpoints take. The reply path keeps them in its
    settings cache: any change to the endpoints moves the account's settings version on."""

    types: frozenset[str]
    every_type: bool

    @classmethod
    def of(cls, endpoint_types: list[list[str]]) -> "Subscriptions":
        """From each enabled endpoint's types (empty: every type)."""
        return cls(frozenset(t for types in endpoint_types for t in types), any(not t for t in endpoint_types))

    def want(self, type: str) -> bool:
        return self.every_type or type in self.types


async def subscriptions(db: Executor, account_id: int) -> Subscriptions:
    return Subscriptions.of(await events.enabled_endpoint_types(db, account_id))


async def emit(
    db: Executor,
    account_id: int,
    type: str,
    data: dict[str, Any],
    conversation_id: str | None = None,
    subscribed: Subscriptions | None = None,
) -> None:
    """Write the event if an endpoint takes it; ``subscribed``: the account's subscriptions,
    when the caller knows them already (else they are read)."""
    if subscribed is None:
        subscribed = await subscriptions(db, account_id)
    if subscribed.want(type):
        await events.record_event(db, account_id, type, data, public_id=new_event_id(), conversation_id=conversation_id)


class ConversationFacts(Protocol):
    """What a conversation event tells of its conversation: a stored row, or what a reply read."""

    @property
    def id(self) -> str: ...
    @property
    def assistant_id(self) -> int: ...
    @property
    def customer_identifier(self) -> str | None: ...
    @property
    def type(self) -> str: ...
    @property
    def ai_disabled(self) -> bool: ...
    @property
    def variables(self) -> dict[str, Any]: ...


class MessageFacts(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


def conversation_data(conversation: ConversationFacts) -> dict[str, Any]:
    """What every conversation event says of its conversation, so a receiver needs no call back."""
    return {
        "id": conversation.id,
        "assistant_id": conversation.assistant_id,
        "customer_identifier": conversation.customer_identifier,
        "type": conversation.type,
        "ai_enabled": not conversation.ai_disabled,
        "variables": conversation.variables,
    }


def message_data(message: MessageFacts) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "author": message.author,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }


def message_event(conversation: ConversationFacts, message: MessageFacts) -> dict[str, Any]:
    """``message.created``'s data."""
    return {"conversation": conversation_data(conversation), "message": message_data(message)}
