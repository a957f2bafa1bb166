"""Everything done to a conversation besides replying: start one for a widget or test chat,
read it, list them, take it over and hand it back, answer as a human, erase it. The API, the
console and the command line all do these through here, so each takes the conversation's
lock where the reply engine does and keeps the same rules.

Methods taking ``account_id: int | None`` read None as the operator's command line, which sees
every account; the API and the console always pass the account they act for."""

import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.reply import lock_key
from replyd.engine.variables import Scalar, merge_variables
from replyd.errors import AssignedElsewhere, AssistantNotFound, ConversationNotFound, FieldProblem, ValidationFailed
from replyd.events.outbox import conversation_data, emit, emit_message
from replyd.events.types import AI_DISABLED, AI_ENABLED, CONVERSATION_CREATED
from replyd.limits import Locks
from replyd.notices import AGENT_TYPING, Notices
from replyd.services.answer_size import listing_size, message_size, within_budget
from replyd.services.cursors import activity_cursor, history_cursor, read_activity_cursor, read_history_cursor
from replyd.services.views import (
    ChannelDeliveryView,
    ConversationHistory,
    ConversationListing,
    ConversationView,
    MessageView,
    deliveries_of,
)
from replyd.store import accounts, activity, assistants, channels, conversations, events, idempotency, ledger
from replyd.store.activity import Activity
from replyd.store.channels import ChannelMessageStatus
from replyd.store.conversations import ActivityKey, ConversationFilter, ReplyTotals
from replyd.store.tables import ApiToken, Conversation, Message


def message_problem(text: str, max_chars: float) -> str | None:
    """What is wrong with a message a customer or an operator sends, if anything: the one rule
    behind the API's validation, the console's forms and the command line."""
    if not text.strip():
        return "must not be blank"
    if len(text) > max_chars:
        return f"must be at most {max_chars} characters (it has {len(text)})"
    return None


HISTORY_LIMIT = 100
"""How many of its newest messages a conversation is read with, unless asked otherwise: a
conversation of 20,000 messages was a 3.9 MB answer. Older ones page in through ``history``."""
MAX_HISTORY_LIMIT = 500


@dataclass(frozen=True)
class HistoryPage:
    conversation: ConversationView
    messages: list[MessageView]
    """Newest first."""
    next_cursor: str | None
    """Opaque, to the older messages; None when none are left."""
    deliveries: dict[int, ChannelDeliveryView]
    """Per message id, what became of those sent on the conversation's channel."""


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed, for its answer: conversations with their messages; the ledger
    entries that named them keep their amounts and no longer do."""

    conversation_ids: tuple[str, ...] = ()
    messages: int = 0
    ledger_entries_anonymised: int = 0

    def __add__(self, other: "Erasure") -> "Erasure":
        return Erasure(
            self.conversation_ids + other.conversation_ids,
            self.messages + other.messages,
            self.ledger_entries_anonymised + other.ledger_entries_anonymised,
        )


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationListing]
    next_cursor: str | None
    """Opaque; None on the last page."""
    prev_cursor: str | None
    """Opaque; None on the first page."""


class ConversationService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], locks: Locks, notices: Notices, max_message_chars: int
    ) -> None:
        self._sessions = sessions
        self._locks = locks
        self._notices = notices
        self.max_message_chars = max_message_chars

    def check_message(self, text: str) -> None:
        """``ValidationFailed`` for a message no one may send (blank, or too long)."""
        problem = message_problem(text, self.max_message_chars)
        if problem is not None:
            raise ValidationFailed([FieldProblem("message", problem)])

    async def start(
        self,
        account_id: int,
        assistant_id: int,
        type: str,
        variables: dict[str, Scalar] | None,
        customer_identifier: str | None = None,
    ) -> ConversationHistory:
        """A widget or test chat; it opens with the assistant's first message, if it has one."""
        async with self._sessions() as session, session.begin():
            assistant = await assistants.get_assistant(session, account_id, assistant_id)
            if assistant is None:
                raise AssistantNotFound(f"Assistant {assistant_id} was not found in your account.")
            conversation = await conversations.create_conversation(
                session,
                str(uuid.uuid4()),
                account_id=account_id,
                assistant_id=assistant_id,
                customer_identifier=customer_identifier,
                type=type,
                variables=merge_variables({}, variables),
            )
            if assistant.first_message:
                await conversations.add_message(session, conversation.id, author="ai", content=assistant.first_message)
            messages = await conversations.newest_messages(session, conversation.id, HISTORY_LIMIT)
            await emit(
                session,
                account_id,
                CONVERSATION_CREATED,
                {"conversation": conversation_data(conversation)},
                conversation.id,
            )
            for message in reversed(messages):
                await _emit_message(session, conversation, message)
            return ConversationHistory.of(conversation, messages[::-1])

    async def find_or_start(
        self, account_id: int, assistant_id: int, type: str, customer_identifier: str
    ) -> ConversationHistory:
        """The customer's conversation with the assistant, started as ``start`` does when there
        is none. Under the lock generate-reply takes for that customer, so two first visits at
        once (or a visit and an API message) make one conversation."""
        async with self._locks.hold(lock_key(assistant_id, customer_identifier, None)):
            async with self._sessions() as session:
                found = await conversations.find_conversation(session, assistant_id, customer_identifier)
                if found is not None:
                    return await _with_newest(session, found, HISTORY_LIMIT)
            return await self.start(account_id, assistant_id, type, None, customer_identifier)

    async def get(
        self, account_id: int | None, conversation_id: str, limit: int = HISTORY_LIMIT
    ) -> ConversationHistory:
        """The conversation with its newest ``limit`` messages, oldest first."""
        async with self._sessions() as session:
            return await _with_newest(session, await find_conversation(session, account_id, conversation_id), limit)

    async def history(
        self, account_id: int | None, conversation_id: str, per_page: int, cursor: str | None
    ) -> HistoryPage:
        """A page of the conversation's messages, newest first, from where ``cursor`` points (a
        cursor replyd did not give out is ``ValidationFailed``). Keyset paging on the message
        id: messages arriving meanwhile never shift a page."""
        before_id = read_history_cursor(cursor) if cursor else None
        async with self._sessions() as session:
            conversation = await find_conversation(session, account_id, conversation_id)
            rows = await conversations.newest_messages(session, conversation.id, per_page + 1, before_id)
            page = [MessageView.of(row) for row in within_budget(rows[:per_page], message_size)]
            next_cursor = history_cursor(page[-1].id) if len(rows) > len(page) else None
            sent = await _statuses(session, conversation, [message.id for message in page])
            return HistoryPage(ConversationView.of(conversation), page, next_cursor, deliveries_of(sent))

    async def reply_totals(self, conversation_id: str) -> ReplyTotals:
        """The AI's replies in a conversation and the tokens they took (the caller has read the
        conversation as its account's: this does not check)."""
        async with self._sessions() as session:
            return await conversations.reply_totals(session, conversation_id)

    async def list(
        self,
        account_id: int | None,
        where: ConversationFilter,
        limit: int,
        after: ActivityKey | None = None,
        before: ActivityKey | None = None,
    ) -> list[ConversationListing]:
        async with self._sessions() as session:
            rows = await conversations.list_conversations(session, account_id, where, limit, after, before)
        return [ConversationListing.of(row) for row in rows]

    async def page(
        self, account_id: int, where: ConversationFilter, per_page: int, cursor: str | None
    ) -> ConversationPage:
        """A page of the list, newest activity first, from where ``cursor`` points (a cursor
        replyd did not give out is ``ValidationFailed``). Keyset paging: a conversation that
        moves to the top while a client pages is not seen twice."""
        direction, key = read_activity_cursor(cursor) if cursor else ("next", None)
        after, before = (key, None) if direction == "next" else (None, key)
        rows = await self.list(account_id, where, per_page + 1, after, before)
        page = _page_of(rows, per_page, direction)
        has_more = len(rows) > len(page)
        is_first_page = key is None or (direction == "prev" and not has_more)
        is_last_page = direction == "next" and not has_more
        return ConversationPage(
            page,
            None if is_last_page or not page else activity_cursor("next", _key(page[-1])),
            None if is_first_page or not page else activity_cursor("prev", _key(page[0])),
        )

    async def last_messages(self, conversation_ids: Sequence[str]) -> dict[str, MessageView]:
        """Each conversation's newest message, for lists."""
        async with self._sessions() as session:
            rows = await activity.last_messages(session, conversation_ids)
        return {conversation_id: MessageView.of(row) for conversation_id, row in rows.items()}

    async def activity(self, account_id: int, recent: int) -> Activity:
        """What changed lately in the account's conversations, cheaply, for live pages."""
        async with self._sessions() as session:
            return await activity.account_activity(session, account_id, recent)

    async def count_needing_a_human(self, account_id: int) -> int:
        """Handoffs no human has answered yet, cheaply: the console shows it on every page."""
        async with self._sessions() as session:
            return await conversations.count_needing_a_human(session, account_id)

    async def set_ai_enabled(self, account_id: int | None, conversation_id: str, enabled: bool, who: str) -> bool:
        """Whether that changed anything. Idempotent: enabling an enabled conversation changes
        nothing, and says so. Waits for a reply in progress, so that reply is the last before
        a takeover and is not followed by a customer's message it never saw answered. ``who``:
        the operator, as the event tells it (``api token 7``, ``console token 7``, ``command line``)."""
        conversation = await self._reload(account_id, conversation_id)
        async with self._hold(conversation), self._sessions() as session, session.begin():
            conversation = await find_conversation(session, account_id, conversation_id)  # as it is after the wait
            if conversation.ai_disabled != enabled:
                return False
            if enabled:
                await conversations.turn_ai_on(session, conversation.id)
            else:
                await conversations.turn_ai_off(session, conversation.id, "operator", None)
            await self._told_ai_switched(session, conversation, "operator", who, None)
            return True

    async def resume_idle(self, conversation_id: str, idle_since_before: datetime) -> bool:
        """Turn the AI back on in a conversation whose humans have been quiet since before
        ``idle_since_before`` (an assistant's ``resume_ai_after_s``), if they still are once
        its lock is held; whether it did. One erased since the sweep found it is left alone."""
        async with self._sessions() as session:
            found = await conversations.get_any_conversation(session, conversation_id)
        if found is None:
            return False
        async with self._hold(found), self._sessions() as session, session.begin():
            conversation = await conversations.get_any_conversation(session, conversation_id)
            quiet_since = conversation.human_active_at if conversation else None
            if conversation is None or not conversation.ai_disabled or quiet_since is None:
                return False
            if quiet_since >= idle_since_before:  # a human wrote since the sweep looked
                return False
            await conversations.turn_ai_on(session, conversation.id)
            reason = f"No human wrote since {quiet_since.isoformat(timespec='seconds')}."
            await self._told_ai_switched(session, conversation, "idle", "replyd", reason)
            return True

    @staticmethod
    async def _told_ai_switched(
        session: AsyncSession, conversation: Conversation, by: str, who: str, reason: str | None
    ) -> None:
        await session.refresh(conversation)
        data = {"conversation": conversation_data(conversation), "by": by, "who": who, "reason": reason}
        type = AI_DISABLED if conversation.ai_disabled else AI_ENABLED
        await emit(session, conversation.account_id, type, data, conversation.id)

    async def add_agent_message(
        self, account_id: int | None, conversation_id: str, text: str, by_token: int | None = None
    ) -> MessageView:
        """A human operator's message: stored in order with the rest (it waits for a reply in
        progress), seen by the model later as the assistant's, never charged. A handoff it
        answers waits for a human no more. ``by_token``: the console sign-in writing it, which
        the conversation is then assigned to; one assigned to another is ``AssignedElsewhere``."""
        self.check_message(text)
        conversation = await self._reload(account_id, conversation_id)
        async with self._hold(conversation), self._sessions() as session, session.begin():
            conversation = await find_conversation(session, account_id, conversation_id)  # still there after the wait
            if by_token is not None:
                await _claim(session, conversation, by_token)
            message_id = await conversations.add_message(session, conversation.id, author="agent", content=text)
            await conversations.touch_conversation(session, conversation.id, conversation.variables)
            await conversations.human_answered(session, conversation.id)
            message = await conversations.get_message(session, message_id)
            await _emit_message(session, conversation, message)
        self._notices.tell(conversation.id)
        return MessageView.of(message)

    async def assign(self, account_id: int, conversation_id: str, token_id: int | None) -> None:
        """Hand the conversation to one of the account's console sign-ins (None: to nobody)."""
        async with self._sessions() as session, session.begin():
            conversation = await find_conversation(session, account_id, conversation_id)
            await conversations.assign(session, conversation.id, token_id)

    async def tell_agent_typing(self, account_id: int, conversation_id: str) -> None:
        """A human agent is writing in the conversation: an open chat widget shows so for a
        few seconds. Nothing is stored; a page tells again while the agent goes on typing."""
        conversation = await self._reload(account_id, conversation_id)
        self._notices.tell(conversation.id, AGENT_TYPING)

    async def erase(self, account_id: int, conversation_id: str, idle_since_before: datetime | None = None) -> Erasure:
        """Delete the conversation and its messages, their events, the Idempotency-Key answers
        given in it, and what channels kept of the customer's messages; its ledger entries
        stay (the money), no longer naming it. With ``idle_since_before`` (retention), only if it
        still had no activity since then once its lock is held.
        Idempotent: one that is not there (erased already, never there, another account's)
        is left alone alike, so a retried DELETE succeeds as the first did and tells nobody
        whether another account has such a conversation."""
        async with self._sessions() as session:
            found = await conversations.get_conversation(session, account_id, conversation_id)
        if found is None:
            return Erasure()
        async with self._hold(found), self._sessions() as session, session.begin():
            conversation = await conversations.get_conversation(session, account_id, conversation_id)
            if conversation is None:  # erased while we waited
                return Erasure()
            if idle_since_before is not None and conversation.updated_at >= idle_since_before:
                return Erasure()
            return await _erase_held(session, conversation)

    async def erase_customer(self, account_id: int, customer_identifier: str) -> Erasure:
        """The customer's right to erasure: every conversation of theirs with any of the
        account's assistants, erased as ``erase`` erases one, and what the account's channels
        kept of messages of theirs that started none. Idempotent: a customer the account does
        not know (or no longer) is an empty erasure."""
        if not customer_identifier.strip():
            raise ValidationFailed([FieldProblem("customer_identifier", "must not be blank")])
        async with self._sessions() as session:
            conversation_ids = await conversations.of_customer(session, account_id, customer_identifier)
        erased = Erasure()
        for conversation_id in conversation_ids:
            erased += await self.erase(account_id, conversation_id)
        async with self._sessions() as session, session.begin():
            await channels.erase_inbound(session, channels.channels_of_account(account_id), customer_identifier)
        return erased

    def _hold(self, conversation: Conversation) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(lock_key(conversation.assistant_id, conversation.customer_identifier, conversation.id))

    async def _reload(self, account_id: int | None, conversation_id: str) -> Conversation:
        async with self._sessions() as session:
            return await find_conversation(session, account_id, conversation_id)


async def _erase_held(session: AsyncSession, conversation: Conversation) -> Erasure:
    """``erase``'s deletions, in its transaction, under the conversation's lock."""
    held = await conversations.held_by_conversation(session, conversation.id)
    await accounts.release(session, conversation.account_id, held)
    await events.erase_conversation_events(session, conversation.id)
    await idempotency.erase_conversations(session, [conversation.id])
    await channels.erase_sent(session, conversation.id)
    if conversation.customer_identifier is not None:
        of_channels = channels.channels_of_assistant(conversation.assistant_id)
        await channels.erase_inbound(session, of_channels, conversation.customer_identifier)
    anonymised = await ledger.anonymise_conversations(session, [conversation.id])
    messages = await conversations.delete_conversation(session, conversation.account_id, conversation.id)
    return Erasure((conversation.id,), messages, anonymised)


async def _emit_message(session: AsyncSession, conversation: Conversation, message: Message) -> None:
    await emit_message(session, conversation.account_id, conversation, message)


async def _with_newest(session: AsyncSession, conversation: Conversation, limit: int) -> ConversationHistory:
    """The conversation with its newest ``limit`` messages, oldest first, and what became of
    those sent on its channel."""
    newest = within_budget(await conversations.newest_messages(session, conversation.id, limit), message_size)
    sent = await _statuses(session, conversation, [message.id for message in newest])
    return ConversationHistory.of(conversation, newest[::-1], sent)


async def _statuses(
    session: AsyncSession, conversation: Conversation, message_ids: list[int]
) -> list[ChannelMessageStatus]:
    """What became of those of these messages sent on the conversation's channel, if it has one."""
    return await channels.statuses_of(session, message_ids) if conversation.channel_id else []


def _page_of(rows: list[ConversationListing], per_page: int, direction: str) -> list[ConversationListing]:
    """At most ``per_page`` of the rows read (one more than a page, to know whether more are
    left) and at most the text budget, kept from the cursor's side: the start when paging on,
    the end when paging back."""
    if direction == "prev":
        return within_budget(rows[::-1][:per_page], listing_size)[::-1]
    return within_budget(rows[:per_page], listing_size)


def _key(row: ConversationListing) -> ActivityKey:
    return ActivityKey(row.conversation.updated_at, row.conversation.number)


async def find_conversation(session: AsyncSession, account_id: int | None, conversation_id: str) -> Conversation:
    """The conversation, in the account (in any, for None); ``ConversationNotFound`` otherwise."""
    if account_id is None:
        conversation = await conversations.get_any_conversation(session, conversation_id)
    else:
        conversation = await conversations.get_conversation(session, account_id, conversation_id)
    if conversation is None:
        where = "in your account" if account_id is not None else "in any account"
        raise ConversationNotFound(f"Conversation {conversation_id} was not found {where}.")
    return conversation


async def _claim(session: AsyncSession, conversation: Conversation, token_id: int) -> None:
    """The conversation is ``token_id``'s to answer: assigned to it now if it was nobody's."""
    holder = conversation.assigned_token_id
    if holder is None:
        await conversations.assign(session, conversation.id, token_id)
    elif holder != token_id:
        token = await session.get(ApiToken, holder)
        who = token.name if token is not None and token.name else f"console token {holder}"
        raise AssignedElsewhere(f"{who} is handling this conversation; assign it to yourself first to answer.")
