"""What the client's methods return: the server's answers as frozen pydantic models. Fields the
server adds later are ignored (a tolerant reader); money is ``Decimal``, times are aware datetimes."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FunctionCall(_Answer):
    """A function the assistant called while producing a reply, with what it answered."""

    name: str
    arguments: dict[str, Any]
    result: Any = None


class Reply(_Answer):
    """The answer of ``generate_reply``; ``reply`` is None when a human has taken over."""

    conversation_id: str
    customer_identifier: str
    reply: str | None
    function_calls: list[FunctionCall]
    ai_disabled: bool


class HistoryMessage(_Answer):
    role: Literal["user", "assistant"]
    content: str
    function_calls: list[FunctionCall]
    author: Literal["customer", "ai", "agent"]
    """Who wrote it: the customer, the AI, or a human operator."""
    created_at: datetime


class Conversation(_Answer):
    """A conversation and its whole history, oldest message first."""

    conversation_id: str
    assistant_id: int
    type: str
    external_identifier: str | None
    """The customer_identifier of generate-reply conversations."""
    ai_enabled: bool
    ai_disabled_by: Literal["operator", "model", "rule"] | None = None
    """While the AI is off: a takeover (``operator``) or a handoff (``model``, ``rule``)."""
    ai_disabled_reason: str | None = None
    needs_human: bool = False
    """A handoff that no human has answered yet."""
    variables: dict[str, Any]
    history: list[HistoryMessage]


class ConversationSummary(_Answer):
    """One row of a conversation list."""

    id: str
    assistant_id: int
    assistant_name: str
    type: str
    variables: dict[str, Any]
    external_identifier: str | None
    message_count: int
    total_cost: Decimal
    ai_enabled: bool
    ai_disabled_by: Literal["operator", "model", "rule"] | None = None
    needs_human: bool = False
    created_at: datetime
    updated_at: datetime


class ConversationPage(_Answer):
    """Conversations, newest activity first; pass ``next_cursor`` as ``cursor`` for older ones."""

    data: list[ConversationSummary]
    per_page: int
    next_cursor: str | None
    prev_cursor: str | None


class ConversationState(_Answer):
    """A conversation after ``disable_ai`` or ``enable_ai``."""

    conversation_id: str
    ai_enabled: bool


class StartedConversation(_Answer):
    """A new widget or test chat; ``history`` holds the assistant's first message, if it has one."""

    conversation_id: str
    history: list[HistoryMessage]


class ConversationReply(_Answer):
    """The answer of ``send_message``; ``message`` is None when a human has taken over."""

    message: str | None
    function_calls: list[FunctionCall]
    ai_disabled: bool


class ErasedCustomer(_Answer):
    """What erasing a customer erased: their conversations (one per assistant at most) with
    their messages; the ledger entries that named them keep their amounts."""

    customer_identifier: str
    conversation_ids: list[str]
    messages: int
    ledger_entries_anonymised: int


class AgentMessage(_Answer):
    """A human operator's message, as stored in the history."""

    conversation_id: str
    message: HistoryMessage


class Assistant(_Answer):
    id: int
    name: str
    system_prompt: str
    model: str
    temperature: float
    max_reply_tokens: int
    context_budget_tokens: int
    first_message: str | None
    reply_fee: Decimal
    input_price_per_million_tokens: Decimal
    output_price_per_million_tokens: Decimal
    functions: list[dict[str, Any]]
    handoff_enabled: bool
    handoff_message: str
    handoff_triggers: list[str] = []
    resume_ai_after_s: int | None = None
    max_function_rounds: int
    created_at: datetime
    updated_at: datetime


class AssistantAnswer(_Answer):
    """The envelope of one assistant; the client returns the assistant."""

    assistant: Assistant


class AssistantList(_Answer):
    data: list[Assistant]


class TokenInfo(_Answer):
    id: int
    scope: str
    rate_limit: str
    """This token's generate-reply limit, e.g. ``5/minute``."""


class Account(_Answer):
    account_id: int
    name: str
    currency: str
    balance: Decimal
    balance_micros: int
    balance_low_threshold: Decimal | None = None
    """Below this, a charge sends ``account.balance_low`` to the account's event endpoints."""
    conversation_retention_days: int | None = None
    """Conversations idle longer than this many days are erased; None: kept for ever."""
    token: TokenInfo
    """The token the client authenticates with."""


class LedgerEntry(_Answer):
    id: int
    kind: str
    """``top_up`` or ``reply``."""
    amount: Decimal
    """Positive for a top-up, negative for a charge."""
    amount_micros: int
    assistant_id: int | None
    conversation_id: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime


class DayTotal(_Answer):
    day: str
    spent: Decimal
    spent_micros: int
    replies: int


class AssistantTotal(_Answer):
    assistant_id: int | None
    spent: Decimal
    spent_micros: int
    replies: int


class UsageTotals(_Answer):
    since: date
    until: date
    per_day: list[DayTotal]
    per_assistant: list[AssistantTotal]


class Usage(_Answer):
    """Ledger entries, newest first, one page at a time, and the account's totals."""

    data: list[LedgerEntry]
    per_page: int
    next_cursor: str | None
    totals: UsageTotals
