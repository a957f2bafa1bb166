"""Step 1 of a turn, inside its first transaction: the conversation found (or opened on the
customer's first message) with its variables merged, the balance checked, the recent history
read, and the customer's message kept, before any model is called (see ``reply.py``)."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from replyd.engine.prompt import history_limit
from replyd.engine.variables import Scalar, merge_variables
from replyd.errors import ConversationNotFound, InsufficientBalance
from replyd.money import format_micros
from replyd.store import conversations
from replyd.store.conversations import StoredTurn
from replyd.store.tables import Assistant, Conversation

INTERRUPTED = "The reply was interrupted (the server stopped while the model was answering)."


@dataclass(frozen=True)
class ReplyRequest:
    """A customer's message: to the conversation with ``customer_identifier`` (generate-reply,
    created on its first message), or to an existing conversation by ``conversation_id``
    (widget and test chats)."""

    assistant_id: int
    customer_identifier: str | None
    message: str
    variables: dict[str, Scalar] | None = None
    conversation_id: str | None = None


async def open_conversation(
    session: AsyncSession, account_id: int, assistant_id: int, request: ReplyRequest
) -> tuple[Conversation, dict[str, Scalar], bool]:
    """The conversation with its variables merged and new activity marked, created on the
    customer's first message; and whether it is new."""
    conversation = await _find(session, account_id, assistant_id, request)
    if conversation is None:
        conversation = await conversations.create_conversation(
            session,
            str(uuid.uuid4()),
            account_id=account_id,
            assistant_id=assistant_id,
            customer_identifier=request.customer_identifier,
            type="api",
            variables=merge_variables({}, request.variables),
        )
        return conversation, conversation.variables, True
    variables = merge_variables(conversation.variables, request.variables)
    await conversations.touch_conversation(session, conversation.id, variables)
    return conversation, variables, False


async def _find(
    session: AsyncSession, account_id: int, assistant_id: int, request: ReplyRequest
) -> Conversation | None:
    if request.conversation_id is not None:
        conversation = await conversations.get_conversation(session, account_id, request.conversation_id)
        if conversation is None:  # erased while the message waited for the lock
            raise ConversationNotFound(f"Conversation {request.conversation_id} was not found in your account.")
        return conversation
    assert request.customer_identifier is not None
    return await conversations.find_conversation(session, assistant_id, request.customer_identifier)


async def recent_history(session: AsyncSession, conversation: Conversation, assistant: Assistant) -> list[StoredTurn]:
    limit = history_limit(assistant.context_budget_tokens)
    return await conversations.recent_turns(session, conversation.id, limit, after_id=conversation.summary_through_id)


async def keep_message(
    session: AsyncSession, conversation_id: str, text: str, history: list[StoredTurn]
) -> tuple[int, list[StoredTurn]]:
    """Store the customer's message as ``pending``, and return its id with the history before it.
    The conversation's last message, if it is this same text still unanswered (its request
    failed, or its process died), is answered now instead of stored twice. A message left
    ``pending`` by a process that died (this turn holds the lock: nobody else answers it) is
    marked failed."""
    last = history[-1] if history else None
    if last is not None and last.author == "customer" and last.awaits_answer:
        if last.content == text:
            await conversations.set_reply_status(session, last.id, "pending", was=("pending", "failed"))
            return last.id, history[:-1]
        await conversations.set_reply_status(session, last.id, "failed", was=("pending",), error=INTERRUPTED)
    message_id = await conversations.add_message(
        session, conversation_id, role="user", author="customer", content=text, reply_status="pending"
    )
    return message_id, history


def check_balance(balance_micros: int, assistant: Assistant) -> None:
    if balance_micros <= 0 or balance_micros < assistant.reply_fee_micros:
        raise InsufficientBalance(
            f"Your balance ({format_micros(balance_micros)}) is too low for a reply "
            f"(fee {format_micros(assistant.reply_fee_micros)}); top up your account."
        )
