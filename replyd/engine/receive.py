"""Step 1 of a turn, inside its first transaction: the conversation found (or opened on the
customer's first message) with its variables merged, the balance checked, the recent history
read, and the customer's message kept, before any model is called (see ``reply.py``)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from replyd.engine.context import summary_budget
from replyd.engine.variables import Scalar, merge_variables
from replyd.errors import ConversationNotFound, InsufficientBalance
from replyd.money import format_micros, reply_cost_micros
from replyd.store import accounts, conversations
from replyd.store.accounts import Funds
from replyd.store.conversations import OpenConversation, StoredTurn
from replyd.store.tables import Assistant

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
    db: AsyncConnection, account_id: int, assistant_id: int, request: ReplyRequest, channel_id: int | None = None
) -> tuple[OpenConversation, dict[str, Scalar], bool]:
    """The conversation with its variables merged and new activity marked, created on the
    customer's first message; and whether it is new. ``channel_id``: the channel the message
    came on, which the conversation's answers then go out on."""
    conversation = await _open(db, account_id, assistant_id, request, channel_id)
    if conversation is None:
        variables = merge_variables({}, request.variables)
        conversation = await conversations.insert_conversation(
            db, account_id, assistant_id, request.customer_identifier, variables, channel_id
        )
        return conversation, variables, True
    variables = merge_variables(conversation.variables, request.variables)
    if request.variables:  # else they are as stored
        await conversations.touch_conversation(db, conversation.id, variables)
    return conversation, variables, False


async def _open(
    db: AsyncConnection, account_id: int, assistant_id: int, request: ReplyRequest, channel_id: int | None
) -> OpenConversation | None:
    if request.conversation_id is not None:
        conversation = await conversations.open_by_id(db, account_id, request.conversation_id)
        if conversation is None:  # erased while the message waited for the lock
            raise ConversationNotFound(f"Conversation {request.conversation_id} was not found in your account.")
        return conversation
    assert request.customer_identifier is not None
    return await conversations.open_by_customer(db, assistant_id, request.customer_identifier, channel_id)


async def keep_message(
    db: AsyncConnection,
    account_id: int,
    conversation_id: str,
    text: str,
    unanswered: StoredTurn | None,
    reserved_micros: int,
    now: datetime,
    told: Callable[[int], list[dict[str, Any]]],
) -> int:
    """Store the customer's message as ``pending``, holding ``reserved_micros``, with the events
    ``told`` makes of it, and return its id. The conversation's last message, if ``unanswered``
    (a customer's, still awaiting an answer) and this same text (its request failed, or its
    process died), is answered now instead of stored twice (and was told of when first kept).
    A message left ``pending`` by a process that died (this turn holds the lock: nobody else
    answers it) is marked failed, and its reservation given back."""
    if unanswered is not None:
        await accounts.release(db, account_id, unanswered.reserved_micros)  # only a dead process's message holds any
        if unanswered.content == text:
            await conversations.set_reply_status(
                db, unanswered.id, "pending", was=("pending", "failed"), reserved_micros=reserved_micros
            )
            return unanswered.id
        await conversations.set_reply_status(db, unanswered.id, "failed", was=("pending",), error=INTERRUPTED)
    message_id = await conversations.add_message(
        db,
        conversation_id,
        author="customer",
        content=text,
        reply_status="pending",
        reserved_micros=reserved_micros,
        created_at=now,
        told=told,
    )
    return message_id


def most_a_reply_costs(assistant: Assistant) -> int:
    """What a reply is held to cost until it settles: each model call the turn may make (one;
    with functions, one per round and a last one) with a prompt filling the context budget and
    the longest reply, two rolling summaries (one written ahead, one inline), and the fee.
    Function results can push a prompt past the budget; such a reply is still charged in full."""
    budget = assistant.context_budget_tokens
    calls = assistant.max_function_rounds + 1 if assistant.functions or assistant.handoff_enabled else 1
    prices = (assistant.input_price_micros, assistant.output_price_micros)
    call = reply_cost_micros(budget, assistant.max_reply_tokens, *prices, 0)
    summary = reply_cost_micros(budget, summary_budget(budget), *prices, 0)
    return calls * call + 2 * summary + assistant.reply_fee_micros


async def hold_funds(db: AsyncConnection, account_id: int, funds: Funds, amount_micros: int) -> None:
    """Reserve what the reply may cost, or refuse it: concurrent replies never spend more than
    the balance."""
    if funds.balance_micros <= 0 or not await accounts.reserve(db, account_id, amount_micros):
        held = f", of which {format_micros(funds.reserved_micros)} is held for replies in progress"
        raise InsufficientBalance(
            f"Your balance ({format_micros(funds.balance_micros)}{held if funds.reserved_micros else ''}) "
            f"is too low for a reply, which may cost up to {format_micros(amount_micros)}; top up your account."
        )
