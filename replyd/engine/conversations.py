"""Everything done to a conversation besides replying: start one for a widget or test chat,
read it, list them, take it over and hand it back, answer as a human, erase it."""

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.reply import lock_key
from replyd.engine.variables import Scalar, merge_variables
from replyd.errors import AssistantNotFound, ConversationNotFound
from replyd.limits import Locks
from replyd.store import assistants, conversations
from replyd.store.conversations import ActivityKey, ConversationFilter, ConversationSummary
from replyd.store.tables import Conversation, Message


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    messages: list[Message]


class ConversationService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], locks: Locks) -> None:
        self._sessions = sessions
        self._locks = locks

    async def start(
        self, account_id: int, assistant_id: int, type: str, variables: dict[str, Scalar] | None
    ) -> ConversationView:
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
                customer_identifier=None,
                type=type,
                variables=merge_variables({}, variables),
            )
            if assistant.first_message:
                await conversations.add_message(
                    session, conversation.id, role="assistant", author="ai", content=assistant.first_message
                )
            messages = await conversations.all_messages(session, conversation.id)
        return ConversationView(conversation, messages)

    async def get(self, account_id: int, conversation_id: str) -> ConversationView:
        async with self._sessions() as session:
            conversation = await self._find(session, account_id, conversation_id)
            return ConversationView(conversation, await conversations.all_messages(session, conversation.id))

    async def list(
        self,
        account_id: int,
        where: ConversationFilter,
        limit: int,
        after: ActivityKey | None = None,
        before: ActivityKey | None = None,
    ) -> list[ConversationSummary]:
        async with self._sessions() as session:
            return await conversations.list_conversations(session, account_id, where, limit, after, before)

    async def set_ai_enabled(self, account_id: int, conversation_id: str, enabled: bool) -> Conversation:
        """Idempotent: enabling an enabled conversation changes nothing but says so."""
        async with self._sessions() as session, session.begin():
            conversation = await self._find(session, account_id, conversation_id)
            if conversation.ai_disabled == enabled:
                await conversations.set_ai_disabled(session, conversation.id, not enabled)
        return await self._reload(account_id, conversation_id)

    async def add_agent_message(self, account_id: int, conversation_id: str, text: str) -> Message:
        """A human operator's message: stored in order with the rest (it waits for a reply in
        progress), seen by the model later as the assistant's, never charged."""
        conversation = await self._reload(account_id, conversation_id)
        async with self._hold(conversation), self._sessions() as session, session.begin():
            await self._find(session, account_id, conversation_id)  # still there after the wait
            message_id = await conversations.add_message(
                session, conversation_id, role="assistant", author="agent", content=text
            )
            await conversations.touch_conversation(session, conversation_id, conversation.variables)
            return await conversations.get_message(session, message_id)

    async def erase(self, account_id: int, conversation_id: str) -> None:
        """Delete the conversation and its messages; ledger entries stay (they hold no text).
        Idempotent: one that is not there (erased already, never there, another account's)
        is left alone alike, so a retried DELETE succeeds as the first did and tells nobody
        whether another account has such a conversation."""
        async with self._sessions() as session:
            conversation = await conversations.get_conversation(session, account_id, conversation_id)
        if conversation is None:
            return
        async with self._hold(conversation), self._sessions() as session, session.begin():
            await conversations.delete_conversation(session, conversation.id)

    def _hold(self, conversation: Conversation) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(lock_key(conversation.assistant_id, conversation.customer_identifier, conversation.id))

    async def _reload(self, account_id: int, conversation_id: str) -> Conversation:
        async with self._sessions() as session:
            return await self._find(session, account_id, conversation_id)

    @staticmethod
    async def _find(session: AsyncSession, account_id: int, conversation_id: str) -> Conversation:
        conversation = await conversations.get_conversation(session, account_id, conversation_id)
        if conversation is None:
            raise ConversationNotFound(f"Conversation {conversation_id} was not found in your account.")
        return conversation
