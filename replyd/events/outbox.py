"""Writing events into the outbox, in the transaction of the change they report: committed
together, or not at all, so that no event is lost when a process dies right after a change
and none reports a change that was rolled back. An account without an endpoint that takes
the type gets no event (nothing would deliver it)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from replyd.events.types import CHANNEL_OUTGOING, MESSAGE_CREATED, new_event_id
from replyd.store import channels, events
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
    channel_id: int | None = None,
) -> bool:
    """Write the event if an endpoint takes it (whether it did); ``subscribed``: the account's
    subscriptions, when the caller knows them already (else they are read); ``channel_id``: the
    one channel it is for (``channel.outgoing``)."""
    if subscribed is None:
        subscribed = await subscriptions(db, account_id)
    if not subscribed.want(type):
        return False
    row = events.event_row(account_id, type, data, new_event_id(), conversation_id, channel_id)
    await events.record_events(db, [row])
    return True


async def emit_message(
    db: Executor,
    account_id: int,
    conversation: "ConversationFacts",
    message: "MessageFacts",
    subscribed: Subscriptions | None = None,
) -> None:
    """Tell of a message stored already (``message_events``)."""
    if subscribed is None:
        subscribed = await subscriptions(db, account_id)
    told = message_events(account_id, conversation, message, subscribed)
    if told:
        await events.record_events(db, told)
    await expect_sending(db, conversation, message.author, message.id, subscribed)


def message_events(
    account_id: int, conversation: "ConversationFacts", message: "MessageFacts", subscribed: Subscriptions
) -> list[dict[str, Any]]:
    """The outbox's rows telling of a message, for the endpoints that take them:
    ``message.created``; and, for the AI's or an agent's message in a conversation on a
    channel, ``channel.outgoing`` for that channel (how the message reaches the customer there;
    ``expect_sending`` then marks it pending)."""
    told = []
    if subscribed.want(MESSAGE_CREATED):
        data = message_event(conversation, message)
        told.append(events.event_row(account_id, MESSAGE_CREATED, data, new_event_id(), conversation.id))
    if _goes_out(conversation, message.author, subscribed):
        data = {"to": conversation.customer_identifier, "message": message_data(message)}
        channel_id = conversation.channel_id
        told.append(events.event_row(account_id, CHANNEL_OUTGOING, data, new_event_id(), conversation.id, channel_id))
    return told


async def expect_sending(
    db: Executor, conversation: "ConversationFacts", author: str, message_id: int, subscribed: Subscriptions
) -> None:
    """A message told to its conversation's channel (``channel.outgoing``) is ``pending`` there
    from now on (none while the channel cannot send)."""
    if _goes_out(conversation, author, subscribed):
        assert conversation.channel_id is not None
        await channels.expect_sending(db, conversation.channel_id, message_id)


def _goes_out(conversation: "ConversationFacts", author: str, subscribed: Subscriptions) -> bool:
    return conversation.channel_id is not None and author != "customer" and subscribed.want(CHANNEL_OUTGOING)


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
    @property
    def channel_id(self) -> int | None: ...


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
