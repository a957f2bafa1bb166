"""The database schema. Alembic migrations in ``migrations/`` create it; these classes map it.

Money is integer micro-units of the account's currency (1.00 = 1_000_000).
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    ScalarSelect,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    select,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out. PostgreSQL keeps a ``timestamptz``; SQLite, which has
    no time type, the microseconds since 1970 as an integer: 8 bytes in the row and in every
    index that holds it, where SQLAlchemy's text form takes 26 (migration 0027; at 200,000
    conversations 91 MiB less, docs/performance.md). Both order as time does."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | int | None:
        if value is None or dialect.name != "sqlite":
            return value
        if value.tzinfo is None:  # replyd's times are UTC (replyd.clock); a naive one is read so
            value = value.replace(tzinfo=UTC)
        return (value - EPOCH) // MICROSECOND

    def process_result_value(self, value: datetime | int | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int):
            return EPOCH + value * MICROSECOND
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Amount(TypeDecorator[int]):
    """A message's count or amount of money, which is often nothing: PostgreSQL keeps a zero
    as NULL, one bit of the row's null map where an integer takes 4 or 8 bytes (migration 0030;
    at 200,000 conversations 46 MiB of messages less). SQLite stores an integer 0 in the
    record's header alone, so it keeps the 0. Read back, NULL is 0 on both."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> int | None:
        return None if value == 0 and dialect.name == "postgresql" else value

    def process_result_value(self, value: int | None, dialect: Dialect) -> int:
        return value or 0


def role_of(author: str) -> str:
    """The chat role of a message by ``author``, as ``Message.role`` reads it in SQL."""
    return "user" if author == "customer" else "assistant"


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index of only the rows where ``where`` holds, on both databases."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


class NextConversationNumber(FunctionElement[int]):
    """A new conversation's number: PostgreSQL's sequence (migration 0029); on SQLite, which
    has none, one more than the highest, read inside the inserting statement (SQLite has one
    writer, and the number's unique index refuses a duplicate anyway)."""

    type = BigInteger()
    inherit_cache = True


@compiles(NextConversationNumber)
def _next_number_sqlite(element: NextConversationNumber, compiler: SQLCompiler, **kw: Any) -> str:
    return "(SELECT coalesce(max(number), 0) + 1 FROM conversations)"


@compiles(NextConversationNumber, "postgresql")
def _next_number_postgresql(element: NextConversationNumber, compiler: SQLCompiler, **kw: Any) -> str:
    return "nextval('conversations_number_seq')"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime()}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    balance_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    """Always the sum of this account's ledger; updated in the same transaction as each entry."""
    webhook_secret: Mapped[str] = mapped_column(String(64))
    """Signs every webhook call of the account's functions; kept in clear, since signing needs it."""
    previous_webhook_secret: Mapped[str | None] = mapped_column(String(64))
    """The secret before the last rotation: calls are signed with it too for a day after."""
    webhook_secret_rotated_at: Mapped[datetime | None]
    widget_secret: Mapped[str | None] = mapped_column(String(64))
    """Signs the visitor ids of the account's chat widgets and checks the identities its pages
    vouch for; made with the account's first widget."""
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    """What replies in progress may still cost: held out of the balance while the model thinks,
    so concurrent replies can never spend more than the balance (the sum of the pending
    messages' own ``reserved_micros``)."""
    settings_version: Mapped[int] = mapped_column(BigInteger, default=0)
    """Moves on with every change to the account's tokens, assistants, webhook secret or event
    endpoints, in the same transaction: what each process caches of them is good while this is
    unchanged."""
    balance_low_micros: Mapped[int | None] = mapped_column(BigInteger)
    """A charge that takes the balance below this sends ``account.balance_low``; None: never."""
    conversations_erased: Mapped[int] = mapped_column(BigInteger, default=0)
    """Erasures of its conversations (one's, or an assistant's with all of its), counted in
    the erasing transaction: the console's live pages see one gone by this moving on."""
    conversation_retention_days: Mapped[int | None]
    """Conversations idle longer than this many days are erased by the upkeep; None: kept for ever."""
    created_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    """The first characters of the token, so an operator can tell tokens apart."""
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    """``admin`` (everything of its account), ``replies`` (generate-reply and reading conversations)
    or ``operator`` (the console's conversations, for one named person; no API)."""
    name: Mapped[str | None] = mapped_column(String(80))
    """Whose it is: an operator's name, shown in the console and in events."""
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Assistant(Base):
    __tablename__ = "assistants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    temperature: Mapped[float]
    max_reply_tokens: Mapped[int]
    context_budget_tokens: Mapped[int]
    first_message: Mapped[str | None] = mapped_column(Text)
    functions: Mapped[list[Any]]
    """Function specs, as ``functions.spec.FunctionSpec`` validates them."""
    handoff_enabled: Mapped[bool]
    handoff_message: Mapped[str] = mapped_column(Text)
    max_function_rounds: Mapped[int]
    summary_model: Mapped[str | None] = mapped_column(String(200))
    """The model that writes rolling summaries; the assistant's own when None."""
    handoff_triggers: Mapped[list[Any]] = mapped_column(default=list)
    """Regular expressions (case-insensitive): a customer's message matching one is handed
    to a human before the model is called."""
    resume_ai_after_s: Mapped[int | None]
    """The AI comes back by itself after this long with no human in a conversation; None: never."""
    reply_fee_micros: Mapped[int] = mapped_column(BigInteger)
    input_price_micros: Mapped[int] = mapped_column(BigInteger)
    """Price of one million prompt tokens."""
    output_price_micros: Mapped[int] = mapped_column(BigInteger)
    """Price of one million completion tokens."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("assistant_id", "customer_identifier"),
        Index("ix_conversations_account_activity", "account_id", "updated_at", "number"),
        Index("ix_conversations_assistant_activity", "assistant_id", "updated_at", "number"),
        Index("ix_conversations_type_activity", "account_id", "type", "updated_at", "number"),
        Index("ix_conversations_customer", "account_id", "customer_identifier"),
        Index("ix_conversations_human_active", "assistant_id", "human_active_at"),
        Index("ix_conversations_assigned_activity", "assigned_token_id", "updated_at", "number"),
        Index("ux_conversations_number", "number", unique=True),
        partial_index("ix_conversations_needs_human", "account_id", "updated_at", "number", where="needs_human"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, default=NextConversationNumber())
    """What its messages and ledger entries refer to it by, never shown: 8 bytes in each of
    their rows and index entries where the id takes 37 (migration 0029; docs/performance.md)."""
    account_id: Mapped[int] = mapped_column(BigInteger)
    """The assistant's account, kept here so that listing and access checks need no join."""
    assistant_id: Mapped[int] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"))
    customer_identifier: Mapped[str | None] = mapped_column(String(255))
    """None for widget and test chats, which are addressed by id."""
    type: Mapped[str] = mapped_column(String(16), default="api")
    """``api`` (generate-reply), ``widget`` or ``test``."""
    variables: Mapped[dict[str, Any]]
    ai_disabled: Mapped[bool] = mapped_column(default=False)
    ai_disabled_by: Mapped[str | None] = mapped_column(String(16))
    """While the AI is off: ``operator`` (a takeover), ``model`` (its handoff call) or ``rule``
    (a keyword trigger); the last two are handoffs. None for conversations older than that."""
    ai_disabled_reason: Mapped[str | None] = mapped_column(Text)
    needs_human: Mapped[bool] = mapped_column(default=False)
    """A handoff that no human has answered yet (an agent's message or the AI back clears it)."""
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id", ondelete="SET NULL"))
    """The channel it last spoke on (WhatsApp, SMS, Telegram): its AI and agents' messages go out there."""
    assigned_token_id: Mapped[int | None] = mapped_column(BigId)
    """The console sign-in (an operator's or admin's token) handling it; None: nobody yet. Only
    they answer it from the console, so two operators never answer one customer at once."""
    human_active_at: Mapped[datetime | None]
    """While the AI is off: when it went off or an agent last wrote. The assistant's
    ``resume_ai_after_s`` counts from here."""
    summary: Mapped[str | None] = mapped_column(Text)
    """What the messages up to ``summary_through_id`` said, folded into a few sentences."""
    summary_through_id: Mapped[int | None] = mapped_column(BigInteger)
    """The last message the summary covers; the model sees full messages only after it."""
    next_summary: Mapped[str | None] = mapped_column(Text)
    """The summary written ahead, in the background, once the history neared the budget: it
    covers messages up to ``next_summary_through_id`` and replaces ``summary`` on the next turn."""
    next_summary_through_id: Mapped[int | None] = mapped_column(BigInteger)
    next_summary_prompt_tokens: Mapped[int] = mapped_column(default=0)
    """Tokens spent writing ``next_summary``, charged with the turn that applies it."""
    next_summary_completion_tokens: Mapped[int] = mapped_column(default=0)
    message_count: Mapped[int] = mapped_column(default=0)
    """How many messages it holds, and what they cost: kept by the statement that stores each
    message, so a page of the list reads them off its rows instead of counting and summing
    every message of every conversation on it."""
    total_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # SQLite's holds the number alone: it adds the row's id to every index entry itself.
        Index("ix_messages_conversation", "conversation_number", "id"),
        partial_index("ix_messages_pending", "created_at", where="reply_status = 'pending'"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_number: Mapped[int] = mapped_column(BigInteger, ForeignKey("conversations.number", ondelete="CASCADE"))
    conversation_id: Mapped[str] = column_property(
        select(Conversation.id).where(Conversation.number == conversation_number).scalar_subquery()
    )
    """Read with the message, from its conversation's key."""
    author: Mapped[str] = mapped_column(String(16))
    """``customer``, ``ai`` or ``agent`` (a human operator)."""
    role: Mapped[str] = column_property(case((author == "customer", "user"), else_="assistant"))
    """``user`` (a customer's message) or ``assistant``, as a model's chat has them: the author
    implies it, so it is not stored (migration 0030)."""
    content: Mapped[str] = mapped_column(Text)
    function_calls: Mapped[list[Any]]
    prompt_tokens: Mapped[int] = mapped_column(Amount, default=0)
    completion_tokens: Mapped[int] = mapped_column(Amount, default=0)
    cached_tokens: Mapped[int] = mapped_column(Amount, default=0)
    """Prompt tokens the provider served from its prompt cache, as it reported them."""
    cost_micros: Mapped[int] = mapped_column(Amount, default=0)
    reply_status: Mapped[str | None] = mapped_column(String(16))
    """For a customer's message: ``pending`` while the AI's answer is being made (the message
    is stored before the model is called), ``answered``, or ``failed`` (see ``reply_error``;
    a retry answers it). None when no AI answer was asked for (the AI was off) and for
    messages of the AI and of human agents."""
    reply_error: Mapped[str | None] = mapped_column(Text)
    """Why the AI could not answer a ``failed`` message, as the client was told."""
    reserved_micros: Mapped[int] = mapped_column(Amount, default=0)
    """While ``pending``: the most its reply may cost, held on the account until it settles."""
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
        partial_index("ix_ledger_entries_conversation", "conversation_number", where="conversation_number IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    """``top_up`` or ``reply``."""
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    """Positive for a top-up, negative for a charge."""
    assistant_id: Mapped[int | None] = mapped_column(BigInteger)
    """No foreign keys here: entries outlive deleted assistants and erased conversations."""
    conversation_number: Mapped[int | None] = mapped_column(BigInteger)
    """Its conversation's ``number``. None for a top-up, and for a reply whose conversation was
    erased (the amount stays)."""
    conversation_id: Mapped[str | None] = column_property(
        select(Conversation.id).where(Conversation.number == conversation_number).scalar_subquery()
    )
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class UsageTotal(Base):
    """What an account's replies of one assistant cost on one UTC day: the ledger's reply
    entries added up as they are written (``ledger.record``), so usage reads a few rows per
    day instead of summing the whole ledger."""

    __tablename__ = "usage_totals"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    assistant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """No foreign key, as in the ledger: totals outlive deleted assistants."""
    replies: Mapped[int]
    spent_micros: Mapped[int] = mapped_column(BigInteger)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ix_idempotency_keys_created_at", "created_at"),
        Index("ix_idempotency_keys_conversation", "conversation_id"),
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    """None while the first request is still running."""
    response: Mapped[dict[str, Any] | None]
    conversation_id: Mapped[str | None] = mapped_column(String(36))
    """The conversation the answer was given in (it holds the reply): erasing it deletes the key."""
    created_at: Mapped[datetime]
    """When the first request claimed the key (renewed while it runs): the key is forgotten,
    and then deleted, ``idempotency_ttl_s`` after."""


# The tables themselves, for the statements the reply path builds once (Core statements skip
# the ORM's per-statement bookkeeping).
ACCOUNTS = cast(Table, Account.__table__)
API_TOKENS = cast(Table, ApiToken.__table__)
ASSISTANTS = cast(Table, Assistant.__table__)
CONVERSATIONS = cast(Table, Conversation.__table__)
MESSAGES = cast(Table, Message.__table__)
LEDGER_ENTRIES = cast(Table, LedgerEntry.__table__)
IDEMPOTENCY_KEYS = cast(Table, IdempotencyRecord.__table__)
USAGE_TOTALS = cast(Table, UsageTotal.__table__)


def number_of(conversation_id: Any) -> ScalarSelect[int]:
    """The number of the conversation with this id (a value or a bound parameter), looked up
    by its key inside the statement that needs it."""
    return select(CONVERSATIONS.c.number).where(CONVERSATIONS.c.id == conversation_id).scalar_subquery()


def numbers_of(conversation_ids: Select[str] | list[str]) -> Select[int]:
    """The numbers of the conversations with these ids (a query of ids, or a list)."""
    return select(CONVERSATIONS.c.number).where(CONVERSATIONS.c.id.in_(conversation_ids))
