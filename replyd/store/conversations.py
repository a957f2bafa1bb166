"""Conversations and their messages.

A conversation of generate-reply is written only together with its first exchange, so a
request that fails leaves no empty conversation behind. Every lookup by id names the
account, so one account never reaches another's conversations; only the operator's command
line, which sees every account, uses ``get_any_conversation`` and lists with no account."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnClause,
    Integer,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store import labels, notes, reads, search
from replyd.store.accounts import count_erasure
from replyd.store.events import EVENTS, record_events
from replyd.store.session import Executor, on_postgresql
from replyd.store.tables import CONVERSATIONS, MESSAGES, Assistant, Conversation, Message, number_of


@dataclass(frozen=True)
class ConversationFilter:
    assistant_id: int | None = None
    type: str | None = None
    customer_identifier: str | None = None
    needs_human: bool = False
    """Only handoffs no human has answered yet."""
    search: str | None = None
    """Text as ``store/search.py`` finds it: in the customer identifier, a variable, a message."""
    ai_enabled: bool | None = None
    active_since: datetime | None = None
    """Last activity at or after this moment."""
    active_before: datetime | None = None
    """Last activity before this moment."""
    assigned_token_id: int | None = None
    """Only those assigned to this console sign-in."""
    unassigned: bool = False
    """Only those assigned to nobody."""
    label: str | None = None
    """Only those with this label."""


NEEDS_HUMAN: ColumnClause[Any] = literal_column("conversations.needs_human")
"""``needs_human`` bare, as the partial index ``ix_conversations_needs_human`` states it: SQLite
uses a partial index only for a query that repeats its WHERE term, and ``needs_human = 1`` does
not."""


@dataclass(frozen=True)
class ActivityKey:
    """A conversation's place in the newest-activity-first order: the keyset cursor. Ties of
    activity are broken by the conversation's number, which the list's indexes hold (8 bytes
    where the id takes 36; migration 0030)."""

    updated_at: datetime
    number: int


@dataclass(frozen=True)
class OpenConversation:
    """What a reply needs of its conversation, read as its turn opens it (plain values, no ORM
    object: the reply path runs on a bare connection)."""

    id: str
    type: str
    assistant_id: int
    customer_identifier: str | None
    variables: dict[str, Any]
    ai_disabled: bool
    summary: str | None
    summary_through_id: int | None
    next_summary: str | None
    next_summary_through_id: int | None
    next_summary_prompt_tokens: int
    next_summary_completion_tokens: int
    messages_after_mark: int
    """How many messages follow the summary's mark (``engine/history.py`` checks what it
    kept of them against this count)."""
    channel_id: int | None


@dataclass(frozen=True)
class ConversationSummary:
    conversation: Conversation
    assistant_name: str


def _in(conversation_id: Any) -> Any:
    """The messages of the conversation with this id (a value or a bound parameter): a range
    of the messages' index by conversation number."""
    return Message.conversation_number == number_of(conversation_id)


# The reply path's statements are built once, here, and bound to each call's values: building
# a statement and computing its cache key cost more than SQLite takes to run it.
FIND_CONVERSATION = select(Conversation).where(
    Conversation.assistant_id == bindparam("assistant_id"),
    Conversation.customer_identifier == bindparam("customer_identifier"),
)
GET_CONVERSATION = select(Conversation).where(
    Conversation.id == bindparam("id"), Conversation.account_id == bindparam("account_id")
)
RECENT_TURNS = (
    select(
        Message.id,
        Message.role,
        Message.author,
        Message.content,
        Message.function_calls,
        Message.reply_status,
        Message.reserved_micros,
    )
    .where(_in(bindparam("conversation_id")), Message.id > bindparam("after_id"))
    .order_by(Message.id.desc())
    .limit(bindparam("limit"))
)
MESSAGES_AFTER_MARK = literal_column(
    "(SELECT count(*) FROM messages WHERE messages.conversation_number = conversations.number"
    " AND messages.id > coalesce(conversations.summary_through_id, 0))",
    Integer,
)
"""Written out, not built: SQLAlchemy leaves the table's name off the columns of SQLite's
RETURNING, and ``id`` in the subquery would then be the message's."""
OPEN_COLUMNS = (
    CONVERSATIONS.c.id,
    CONVERSATIONS.c.type,
    CONVERSATIONS.c.assistant_id,
    CONVERSATIONS.c.customer_identifier,
    CONVERSATIONS.c.variables,
    CONVERSATIONS.c.ai_disabled,
    CONVERSATIONS.c.summary,
    CONVERSATIONS.c.summary_through_id,
    CONVERSATIONS.c.next_summary,
    CONVERSATIONS.c.next_summary_through_id,
    CONVERSATIONS.c.next_summary_prompt_tokens,
    CONVERSATIONS.c.next_summary_completion_tokens,
    MESSAGES_AFTER_MARK,
    CONVERSATIONS.c.channel_id,
)
"""``OpenConversation``'s fields, in their order."""
ON_CHANNEL = func.coalesce(bindparam("channel", type_=Integer), CONVERSATIONS.c.channel_id)
"""The channel a message came on, or, for one that came through the API, the one it had."""
OPEN_BY_CUSTOMER = (
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.assistant_id == bindparam("of_assistant"),
        CONVERSATIONS.c.customer_identifier == bindparam("of_customer"),
    )
    .values(updated_at=bindparam("now"), channel_id=ON_CHANNEL)
    .returning(*OPEN_COLUMNS)
)
OPEN_BY_ID = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("of_id"), CONVERSATIONS.c.account_id == bindparam("of_account"))
    .values(updated_at=bindparam("now"))
    .returning(*OPEN_COLUMNS)
)
INSERT_CONVERSATION = insert(CONVERSATIONS)
TOUCH_CONVERSATION = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(variables=bindparam("variables"), updated_at=bindparam("now"))
)
INSERT_MESSAGE = (
    insert(MESSAGES).values(conversation_number=number_of(bindparam("conversation_id"))).returning(MESSAGES.c.id)
)
COUNT_MESSAGE = (
    update(CONVERSATIONS)
    .where(CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        message_count=CONVERSATIONS.c.message_count + 1,
        total_cost_micros=CONVERSATIONS.c.total_cost_micros + bindparam("cost_micros"),
    )
)
COUNT_MESSAGE_TELLING = (
    insert(EVENTS)
    .values({column.name: bindparam(f"event_{column.name}") for column in EVENTS.c if column.name != "id"})
    .add_cte(COUNT_MESSAGE.cte("counted"))
)
"""On PostgreSQL, a message counted and its first event written in one statement (a
data-modifying ``WITH``, which SQLite has not). The event's parameters are named apart:
SQLAlchemy takes a parameter named like a column of ``conversations`` (``account_id``,
``type``, ``channel_id``, ``created_at``) for a value to SET in the counting ``UPDATE``."""
SET_REPLY_STATUS = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"), MESSAGES.c.reply_status.in_(bindparam("was", expanding=True)))
    .values(reply_status=bindparam("status"), reply_error=bindparam("error"), reserved_micros=bindparam("reserved"))
)


async def open_by_customer(
    db: Executor, assistant_id: int, customer_identifier: str, channel_id: int | None = None
) -> OpenConversation | None:
    """The customer's conversation with the assistant, its new activity marked and, for a
    message that came on a channel, that channel remembered (one statement)."""
    bound = {"of_assistant": assistant_id, "of_customer": customer_identifier, "now": utcnow(), "channel": channel_id}
    row = (await db.execute(OPEN_BY_CUSTOMER, bound)).first()
    return OpenConversation(*row) if row else None


async def open_by_id(db: Executor, account_id: int, conversation_id: str) -> OpenConversation | None:
    """The account's conversation with this id, its new activity marked (one statement)."""
    if not is_conversation_id(conversation_id):
        return None
    bound = {"of_id": conversation_id, "of_account": account_id, "now": utcnow()}
    row = (await db.execute(OPEN_BY_ID, bound)).first()
    return OpenConversation(*row) if row else None


async def insert_conversation(
    db: Executor,
    account_id: int,
    assistant_id: int,
    customer_identifier: str | None,
    variables: dict[str, Any],
    channel_id: int | None = None,
) -> OpenConversation:
    """A generate-reply or channel conversation, on the customer's first message."""
    conversation_id, now = str(uuid.uuid4()), utcnow()
    await db.execute(
        INSERT_CONVERSATION,
        {
            "id": conversation_id,
            "account_id": account_id,
            "assistant_id": assistant_id,
            "customer_identifier": customer_identifier,
            "type": "api",
            "variables": variables,
            "ai_disabled": False,
            "channel_id": channel_id,
            "created_at": now,
            "updated_at": now,
        },
    )
    return OpenConversation(
        conversation_id,
        "api",
        assistant_id,
        customer_identifier,
        variables,
        False,
        None,
        None,
        None,
        None,
        0,
        0,
        0,
        channel_id,
    )


async def find_conversation(session: AsyncSession, assistant_id: int, customer_identifier: str) -> Conversation | None:
    found: Conversation | None = await session.scalar(
        FIND_CONVERSATION, {"assistant_id": assistant_id, "customer_identifier": customer_identifier}
    )
    return found


def is_conversation_id(text: str) -> bool:
    """Ids are UUIDs; anything else names no conversation (and never reaches the database)."""
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


async def get_conversation(session: AsyncSession, account_id: int, conversation_id: str) -> Conversation | None:
    if not is_conversation_id(conversation_id):
        return None
    found: Conversation | None = await session.scalar(
        GET_CONVERSATION, {"id": conversation_id, "account_id": account_id}
    )
    return found


async def get_any_conversation(session: AsyncSession, conversation_id: str) -> Conversation | None:
    """Whatever account it belongs to: for the operator's command line, never for the API."""
    if not is_conversation_id(conversation_id):
        return None
    return await session.get(Conversation, conversation_id, populate_existing=True)


@dataclass(frozen=True)
class StoredTurn:
    id: int
    role: str
    author: str
    content: str
    function_calls: list[Any]
    reply_status: str | None
    reserved_micros: int

    @property
    def awaits_answer(self) -> bool:
        """A customer's message the AI has not answered yet: still pending (its process died
        while the model thought) or failed; the customer's retry answers it."""
        return self.reply_status in ("pending", "failed")


async def recent_turns(db: Executor, conversation_id: str, limit: int, after_id: int | None = None) -> list[StoredTurn]:
    """The newest ``limit`` messages (after ``after_id``, if given), oldest first: just the
    columns a prompt needs, read without building ORM objects (this runs on every reply)."""
    bound = {"conversation_id": conversation_id, "after_id": after_id or 0, "limit": limit}
    rows = (await db.execute(RECENT_TURNS, bound)).all()
    return [StoredTurn(*row) for row in reversed(rows)]


async def set_summary(db: Executor, conversation_id: str, summary: str | None, through_id: int | None) -> None:
    """Move the summary's mark; a summary written ahead from the old mark no longer applies."""
    await db.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(
            summary=summary,
            summary_through_id=through_id,
            next_summary=None,
            next_summary_through_id=None,
            next_summary_prompt_tokens=0,
            next_summary_completion_tokens=0,
        )
    )


@dataclass(frozen=True)
class SummaryAhead:
    """A rolling summary written before it was needed, and what writing it cost."""

    text: str
    through_id: int
    prompt_tokens: int
    completion_tokens: int
    """What writing it cost, charged with the reply that uses it."""


async def offer_next_summary(
    session: AsyncSession, conversation_id: str, from_id: int | None, ahead: SummaryAhead
) -> bool:
    """Store a summary written ahead from the mark ``from_id``, unless the mark has moved since
    (a turn cut and summarised first) or another one is already waiting. Written without the
    conversation's lock, so the condition is the update's own: no read-then-write race."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.summary_through_id.is_not_distinct_from(from_id),
            Conversation.next_summary_through_id.is_(None),
        )
        .values(
            next_summary=ahead.text,
            next_summary_through_id=ahead.through_id,
            next_summary_prompt_tokens=ahead.prompt_tokens,
            next_summary_completion_tokens=ahead.completion_tokens,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def summary_ahead(conversation: OpenConversation) -> SummaryAhead | None:
    if conversation.next_summary is None or conversation.next_summary_through_id is None:
        return None
    return SummaryAhead(
        conversation.next_summary,
        conversation.next_summary_through_id,
        conversation.next_summary_prompt_tokens,
        conversation.next_summary_completion_tokens,
    )


async def all_messages(session: AsyncSession, conversation_id: str) -> list[Message]:
    """Every message, oldest first: for checks and benchmarks that read a whole conversation;
    a front-end reads ``newest_messages`` a page at a time."""
    rows = await session.scalars(select(Message).where(_in(conversation_id)).order_by(Message.id))
    return list(rows.all())


async def messages_since(session: AsyncSession, conversation_id: str, after_id: int) -> list[Message]:
    """The messages stored after ``after_id``, and a customer's message still being answered
    (however old): what a live view shows next, with whether the AI is typing. One query."""
    rows = await session.scalars(
        select(Message)
        .where(
            _in(conversation_id),
            or_(Message.id > after_id, Message.reply_status == "pending"),
        )
        .order_by(Message.id)
    )
    return list(rows.all())


async def newest_messages(
    session: AsyncSession, conversation_id: str, limit: int, before_id: int | None = None
) -> list[Message]:
    """The conversation's newest ``limit`` messages (older than ``before_id``, if given),
    newest first: a range of the messages' index by conversation, however long the conversation."""
    query = select(Message).where(_in(conversation_id))
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = await session.scalars(query.order_by(Message.id.desc()).limit(limit))
    return list(rows.all())


@dataclass(frozen=True)
class ReplyTotals:
    replies: int
    prompt_tokens: int
    completion_tokens: int


async def reply_totals(session: AsyncSession, conversation_id: str) -> ReplyTotals:
    """The AI's replies in the conversation and the tokens they took (its cost and message count
    are on its row)."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Message.prompt_tokens), 0),
                func.coalesce(func.sum(Message.completion_tokens), 0),
            ).where(_in(conversation_id), Message.author == "ai")
        )
    ).one()
    return ReplyTotals(*(int(value) for value in row))


async def create_conversation(
    session: AsyncSession,
    conversation_id: str,
    *,
    account_id: int,
    assistant_id: int,
    customer_identifier: str | None,
    type: str,
    variables: dict[str, Any],
) -> Conversation:
    now = utcnow()
    conversation = Conversation(
        id=conversation_id,
        account_id=account_id,
        assistant_id=assistant_id,
        customer_identifier=customer_identifier,
        type=type,
        variables=variables,
        ai_disabled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def touch_conversation(db: Executor, conversation_id: str, variables: dict[str, Any]) -> None:
    """Store merged variables and mark new activity."""
    await db.execute(TOUCH_CONVERSATION, {"conversation_id": conversation_id, "variables": variables, "now": utcnow()})


HANDOFF_BY = ("model", "rule")
"""Who turns the AI off with a handoff, which waits for a human; ``operator`` takes over."""


async def turn_ai_off(db: Executor, conversation_id: str, by: str, reason: str | None) -> None:
    """``by``: ``operator``, or one of ``HANDOFF_BY``."""
    now = utcnow()
    await db.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id)
        .values(
            ai_disabled=True,
            ai_disabled_by=by,
            ai_disabled_reason=reason,
            needs_human=by in HANDOFF_BY,
            human_active_at=now,
            updated_at=now,
        )
    )


async def turn_ai_on(db: Executor, conversation_id: str) -> None:
    await db.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id)
        .values(
            ai_disabled=False,
            ai_disabled_by=None,
            ai_disabled_reason=None,
            needs_human=False,
            human_active_at=None,
            updated_at=utcnow(),
        )
    )


async def assign(db: Executor, conversation_id: str, token_id: int | None) -> None:
    """Hand the conversation to a console sign-in (None: to nobody), as new activity: every open
    console page redraws it."""
    await db.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id)
        .values(assigned_token_id=token_id, updated_at=utcnow())
    )


async def mark_activity(db: Executor, conversation_id: str) -> None:
    """Something operators see changed (a note): as new activity, every open console page
    redraws the conversation."""
    await db.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(updated_at=utcnow()))


async def human_answered(db: Executor, conversation_id: str) -> None:
    """An agent wrote: a handoff waits no more, and an idle resume counts from now."""
    await db.execute(
        update(CONVERSATIONS)
        .where(CONVERSATIONS.c.id == conversation_id, CONVERSATIONS.c.ai_disabled.is_(True))
        .values(needs_human=False, human_active_at=utcnow())
    )


@dataclass(frozen=True)
class IdleConversation:
    """A conversation whose AI is off and whose humans have been quiet past the assistant's idle time."""

    id: str
    quiet_since_before: datetime
    """Its assistant's idle time ago: a human active since then keeps the AI off."""


async def idle_without_humans(session: AsyncSession, now: datetime, limit: int) -> list[IdleConversation]:
    """Conversations due to have their AI back (``Assistant.resume_ai_after_s``), the longest
    idle first; one query per assistant that resumes, each on an index."""
    resuming = await session.execute(
        select(Assistant.id, Assistant.resume_ai_after_s).where(Assistant.resume_ai_after_s.is_not(None))
    )
    found: list[IdleConversation] = []
    for assistant_id, after_s in resuming.all():
        cutoff = now - timedelta(seconds=cast(int, after_s))  # never None here, as selected
        rows = await session.scalars(
            select(Conversation.id)
            .where(Conversation.assistant_id == assistant_id, Conversation.human_active_at < cutoff)
            .order_by(Conversation.human_active_at)
            .limit(limit - len(found))
        )
        found.extend(IdleConversation(conversation_id, cutoff) for conversation_id in rows.all())
        if len(found) >= limit:
            break
    return found


async def add_message(
    db: Executor,
    conversation_id: str,
    *,
    author: str,
    content: str,
    function_calls: list[Any] | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cached_tokens: int = 0,
    cost_micros: int = 0,
    reply_status: str | None = None,
    reserved_micros: int = 0,
    created_at: datetime | None = None,
    told: Callable[[int], list[dict[str, Any]]] | None = None,
) -> int:
    """Store a message, counted on its conversation in the same transaction, with the events
    ``told`` makes of its id (``events.event_row``s, none if not given); its id. On PostgreSQL
    the count carries the first event: telling of a message costs no round trip of its own
    (docs/performance.md)."""
    row = {
        "conversation_id": conversation_id,
        "author": author,
        "content": content,
        "function_calls": function_calls or [],
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cached_tokens": cached_tokens,
        "cost_micros": cost_micros,
        "reply_status": reply_status,
        "reply_error": None,
        "reserved_micros": reserved_micros,
        "created_at": created_at or utcnow(),
    }
    message_id: int = (await db.execute(INSERT_MESSAGE, row)).scalar_one()
    counted = {"conversation_id": conversation_id, "cost_micros": cost_micros}
    events = told(message_id) if told else []
    if events and on_postgresql(db):
        first, *events = events
        await db.execute(COUNT_MESSAGE_TELLING, counted | {f"event_{name}": value for name, value in first.items()})
    else:
        await db.execute(COUNT_MESSAGE, counted)
    if events:
        await record_events(db, events)
    return message_id


async def get_message(session: AsyncSession, message_id: int) -> Message:
    message: Message | None = await session.get(Message, message_id)
    assert message is not None
    return message


async def set_reply_status(
    db: Executor,
    message_id: int,
    status: str,
    *,
    was: tuple[str, ...],
    error: str | None = None,
    reserved_micros: int = 0,
) -> bool:
    """Move a customer's message to ``status`` (holding ``reserved_micros`` of its account's
    balance: only a pending message holds any) if it is still in one of the states ``was``;
    False if it was not (another process settled it first: never answer or charge twice)."""
    bound = {"message_id": message_id, "was": list(was), "status": status, "error": error}
    bound["reserved"] = reserved_micros
    result = await db.execute(SET_REPLY_STATUS, bound)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PendingMessage:
    """A customer's message still waiting for its answer, and the conversation it is in."""

    id: int
    account_id: int
    assistant_id: int
    customer_identifier: str | None
    conversation_id: str


async def pending_before(session: AsyncSession, before: datetime, limit: int) -> list[PendingMessage]:
    """Messages ``pending`` since before ``before``, oldest first (from the partial index of
    pending messages, so the scan costs nothing when there are none)."""
    rows = await session.execute(
        select(
            Message.id,
            Conversation.account_id,
            Conversation.assistant_id,
            Conversation.customer_identifier,
            Conversation.id,
        )
        .join(Conversation, Conversation.number == Message.conversation_number)
        .where(Message.reply_status == "pending", Message.created_at < before)
        .order_by(Message.created_at)
        .limit(limit)
    )
    return [PendingMessage(*row) for row in rows.all()]


async def held_by_message(session: AsyncSession, message_id: int) -> int | None:
    """What the message holds of its account's balance; None if it is gone (erased)."""
    held: int | None = await session.scalar(select(Message.reserved_micros).where(Message.id == message_id))
    return held


async def held_by_conversation(session: AsyncSession, conversation_id: str) -> int:
    """What the conversation's messages hold of the account's balance (a dead process's reply)."""
    held = await session.scalar(select(func.sum(Message.reserved_micros)).where(_in(conversation_id)))
    return int(held or 0)


async def delete_conversation(session: AsyncSession, account_id: int, conversation_id: str) -> int:
    """The conversation and its messages; how many messages."""
    await count_erasure(session, account_id)
    await notes.erase_notes(session, conversation_id)
    await labels.erase_labels(session, conversation_id)
    await reads.erase_reads(session, conversation_id)
    deleted = await session.execute(delete(Message).where(_in(conversation_id)))
    await session.execute(delete(Conversation).where(Conversation.id == conversation_id))
    return int(deleted.rowcount)  # type: ignore[attr-defined]


async def of_customer(session: AsyncSession, account_id: int, customer_identifier: str) -> list[str]:
    """The ids of the customer's conversations with any of the account's assistants (one per
    assistant at most; from the (account, customer) index)."""
    rows = await session.scalars(
        select(Conversation.id).where(
            Conversation.account_id == account_id, Conversation.customer_identifier == customer_identifier
        )
    )
    return list(rows.all())


async def idle_since_before(session: AsyncSession, account_id: int, before: datetime, limit: int) -> list[str]:
    """The ids of up to ``limit`` of the account's conversations with no activity since
    ``before``, the longest idle first (a range of the account's activity index)."""
    rows = await session.scalars(
        select(Conversation.id)
        .where(Conversation.account_id == account_id, Conversation.updated_at < before)
        .order_by(Conversation.updated_at, Conversation.number)
        .limit(limit)
    )
    return list(rows.all())


async def count_for_assistant(session: AsyncSession, assistant_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.assistant_id == assistant_id)
    )
    return count or 0


async def count_needing_a_human(session: AsyncSession, account_id: int) -> int:
    """Handoffs no human has answered yet, counted on the partial index alone: the console asks
    on every page and, for each open page, every second."""
    count = await session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.account_id == account_id, NEEDS_HUMAN)
    )
    return count or 0


async def list_conversations(
    session: AsyncSession,
    account_id: int | None,
    where: ConversationFilter,
    limit: int,
    after: ActivityKey | None = None,
    before: ActivityKey | None = None,
) -> list[ConversationSummary]:
    """Newest activity first. ``after`` continues below a cursor, ``before`` goes back above
    one; both are keysets, so conversations arriving meanwhile never shift a page.
    ``account_id=None`` lists every account's, for the operator's command line."""
    filters = _filters(where)
    if account_id is not None:
        filters.append(Conversation.account_id == account_id)
    if not where.search:
        return await _listed(session, filters, limit, after, before)
    return await _searched(session, filters, where.search, limit, after, before)


async def _searched(
    session: AsyncSession,
    filters: list[Any],
    text: str,
    limit: int,
    after: ActivityKey | None,
    before: ActivityKey | None,
) -> list[ConversationSummary]:
    """A page of a search (``store/search.py``): for a rare text, of what the indexes find; for
    a common one, a walk along the list, which gives way to those finds when ``WALK``
    conversations did not fill the page; for a short one, a walk of the newest ``SHORT_WINDOW``."""
    found = await search.plan(session, text)
    if found.short:
        top = await _window_end(session, filters, None, None, search.SHORT_WINDOW)
        return await _listed(session, [*filters, found.along, *top], limit, after, before)
    if found.common:
        window = await _window_end(session, filters, after, before, search.WALK)
        rows = await _listed(session, [*filters, found.along, *window], limit, after, before)
        if len(rows) == limit or not window:
            return rows
    return await _listed(session, [*filters, await search.looked_up(session, found.found)], limit, after, before)


async def _listed(
    session: AsyncSession, filters: list[Any], limit: int, after: ActivityKey | None, before: ActivityKey | None
) -> list[ConversationSummary]:
    query = select(Conversation, Assistant.name).join(Assistant, Assistant.id == Conversation.assistant_id)
    rows = list((await session.execute(_in_order(query.where(*filters), after, before).limit(limit))).all())
    if before is not None:
        rows.reverse()
    return [ConversationSummary(conversation, name) for conversation, name in rows]


def newest_conversations(account_id: int, where: ConversationFilter, limit: int) -> Select[str, int]:
    """The ids and numbers of the account's newest ``limit`` conversations ``where`` lets
    through, newest activity first: a bounded range of the filter's index, to build a count
    on. For the console's views, which search nothing: a search in ``where`` is not applied."""
    return (
        select(Conversation.id, Conversation.number)
        .where(Conversation.account_id == account_id, *_filters(where))
        .order_by(Conversation.updated_at.desc(), Conversation.number.desc())
        .limit(limit)
    )


def _in_order(query: Any, after: ActivityKey | None, before: ActivityKey | None) -> Any:
    """``query`` from the cursor on: newest first below ``after``, oldest first above ``before``."""
    if before is not None:
        return query.where(_newer_than(before)).order_by(Conversation.updated_at, Conversation.number)
    if after is not None:
        query = query.where(_older_than(after))
    return query.order_by(Conversation.updated_at.desc(), Conversation.number.desc())


async def _window_end(
    session: AsyncSession, filters: list[Any], after: ActivityKey | None, before: ActivityKey | None, size: int
) -> list[Any]:
    """The condition that keeps a walk within ``size`` conversations from the cursor (none
    when fewer are left): a range of the list's index, read up to its end in the index alone."""
    query = _in_order(select(Conversation.updated_at, Conversation.number).where(*filters), after, before)
    end = (await session.execute(query.offset(size - 1).limit(1))).first()
    if end is None:
        return []
    key = (end.updated_at, end.number)
    return [_activity() >= key] if before is None else [_activity() <= key]


def _filters(where: ConversationFilter) -> list[Any]:
    """Every condition but the search."""
    clauses = []
    if where.assistant_id is not None:
        clauses.append(Conversation.assistant_id == where.assistant_id)
    if where.type is not None:
        clauses.append(Conversation.type == where.type)
    if where.customer_identifier is not None:
        clauses.append(Conversation.customer_identifier == where.customer_identifier)
    if where.needs_human:
        clauses.append(NEEDS_HUMAN)
    if where.ai_enabled is not None:
        clauses.append(Conversation.ai_disabled.is_(not where.ai_enabled))
    if where.active_since is not None:
        clauses.append(Conversation.updated_at >= where.active_since)
    if where.active_before is not None:
        clauses.append(Conversation.updated_at < where.active_before)
    if where.assigned_token_id is not None:
        clauses.append(Conversation.assigned_token_id == where.assigned_token_id)
    if where.unassigned:
        clauses.append(Conversation.assigned_token_id.is_(None))
    if where.label is not None:
        clauses.append(Conversation.id.in_(labels.labelled(where.label)))
    return clauses


def _activity() -> Any:
    return tuple_(Conversation.updated_at, Conversation.number)


def _older_than(key: ActivityKey) -> Any:
    """Written as one row value, not ``updated_at < x OR (updated_at = x AND number < y)``:
    both databases read the row value as a range of the (…, updated_at, number) index; the OR
    they read by walking the index from its end (issue 19: 167 ms for a deep page on PostgreSQL)."""
    return _activity() < (key.updated_at, key.number)


def _newer_than(key: ActivityKey) -> Any:
    return _activity() > (key.updated_at, key.number)
