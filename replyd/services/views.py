"""What the services hand the front-ends (API, console, CLI): plain frozen values read out of
the store's rows. A front-end never holds a database row, so nothing it does can lazy-load,
flush or change one behind the services' backs."""

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from replyd.services.assistant_config import AssistantConfig
from replyd.store import conversations as conversation_rows
from replyd.store.channels import ChannelMessageStatus
from replyd.store.tables import Assistant, Conversation, Message

MAX_ID = 2**63 - 1
"""Ids are 64-bit integers; a larger number cannot name anything."""

V = TypeVar("V", bound="RowView")


class RowView:
    """A view whose every field is the row's attribute of the same name."""

    @classmethod
    def of(cls: type[V], row: Any) -> V:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class MessageView(RowView):
    id: int
    conversation_id: str
    role: str
    author: str
    """``customer``, ``ai`` or ``agent`` (a human operator)."""
    content: str
    function_calls: list[Any]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_micros: int
    reply_status: str | None
    """On a customer's message: ``pending`` while the AI answers, ``answered``, or ``failed``."""
    reply_error: str | None
    created_at: datetime


@dataclass(frozen=True)
class ConversationView(RowView):
    id: str
    number: int
    """Never shown: the list's order breaks ties of activity by it (``store.conversations.ActivityKey``)."""
    account_id: int
    assistant_id: int
    customer_identifier: str | None
    type: str
    variables: dict[str, Any]
    ai_disabled: bool
    ai_disabled_by: str | None
    """While the AI is off: ``operator`` (a takeover), ``model`` or ``rule`` (a handoff)."""
    ai_disabled_reason: str | None
    needs_human: bool
    """A handoff that no human has answered yet."""
    assigned_token_id: int | None
    """The console sign-in handling it, if any."""
    message_count: int
    total_cost_micros: int
    created_at: datetime
    updated_at: datetime

    @property
    def is_handed_off(self) -> bool:
        """The AI is off because the model or a trigger rule asked for a human; off otherwise
        (older conversations have no ``ai_disabled_by``), an operator took it over."""
        return self.ai_disabled and self.ai_disabled_by in conversation_rows.HANDOFF_BY


@dataclass(frozen=True)
class ChannelDeliveryView(RowView):
    """What became of an AI's or agent's message sent on the conversation's channel."""

    message_id: int
    status: str
    """``pending``, ``accepted``, ``sent``, ``delivered``, ``read`` or ``failed``."""
    error: str | None
    """In plain words: why it failed, or why the last attempt did while it is retried."""
    updated_at: datetime


@dataclass(frozen=True)
class ConversationHistory:
    conversation: ConversationView
    messages: list[MessageView]
    deliveries: dict[int, ChannelDeliveryView] = field(default_factory=dict)
    """Per message id, for the messages sent on a channel."""

    @classmethod
    def of(
        cls, conversation: Conversation, messages: list[Message], sent: list[ChannelMessageStatus] | None = None
    ) -> "ConversationHistory":
        return cls(ConversationView.of(conversation), [MessageView.of(m) for m in messages], deliveries_of(sent or []))


def deliveries_of(sent: list[ChannelMessageStatus]) -> dict[int, ChannelDeliveryView]:
    """Per message id, what became of each message sent on a channel."""
    return {row.message_id: ChannelDeliveryView.of(row) for row in sent}


@dataclass(frozen=True)
class ConversationListing:
    """A conversation as lists show it: with its assistant's name (what it added up to, its
    message count and cost, is on the conversation)."""

    conversation: ConversationView
    assistant_name: str

    @classmethod
    def of(cls, row: conversation_rows.ConversationSummary) -> "ConversationListing":
        return cls(ConversationView.of(row.conversation), row.assistant_name)


@dataclass(frozen=True)
class AssistantView:
    id: int
    account_id: int
    config: AssistantConfig
    """The settings as the API and the console's form take them (money in currency units)."""
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.config.name

    @classmethod
    def of(cls, row: Assistant) -> "AssistantView":
        return cls(row.id, row.account_id, AssistantConfig.of_row(row), row.created_at, row.updated_at)


@dataclass(frozen=True)
class AccountView(RowView):
    id: int
    name: str
    currency: str
    balance_micros: int
    balance_low_micros: int | None
    """Below this, a charge sends ``account.balance_low``; None: never."""
    conversation_retention_days: int | None
    """Conversations idle longer than this many days are erased; None: kept for ever."""


@dataclass(frozen=True)
class LedgerEntryView(RowView):
    id: int
    kind: str
    """``top_up`` or ``reply``."""
    amount_micros: int
    assistant_id: int | None
    conversation_id: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime
