"""Cheap reads for the console: what changed in an account's conversations (polled every
second by its live pages, in any number of server processes), and each conversation's last
message for the list. Read-only; every write goes through the engine's services."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.store.conversations import ConversationFilter, count_needing_a_human, newest_conversations
from replyd.store.reads import ConversationRead
from replyd.store.tables import Account, Conversation, Message, numbers_of

UNREAD_SCAN = 500
"""How many of a view's most recently active conversations its unread count looks at: the
count costs the same at 200 conversations as at 200,000 (an unread one older than these is
not counted; it shows again as soon as a message moves it up)."""


@dataclass(frozen=True)
class Activity:
    """The account's count of erasures and its most recently active conversations' times.
    Every message, takeover and hand-back moves ``updated_at``, so two snapshots that differ
    name what changed; an erasure moves the count on."""

    erasures: int
    recent: dict[str, datetime]
    needs_human: int
    """Handoffs no human has answered yet: the console's notification."""


async def account_activity(session: AsyncSession, account_id: int, limit: int) -> Activity:
    """The erasures from the account's row, the recent conversations from the (account_id,
    updated_at, number) index, the needs-human count from the partial one: none reads all of the
    account's conversations (each open live page asks every second)."""
    erasures = await session.scalar(select(Account.conversations_erased).where(Account.id == account_id))
    rows = await session.execute(
        select(Conversation.id, Conversation.updated_at)
        .where(Conversation.account_id == account_id)
        .order_by(Conversation.updated_at.desc(), Conversation.number.desc())
        .limit(limit)
    )
    recent = {conversation_id: updated_at for conversation_id, updated_at in rows.all()}
    return Activity(erasures or 0, recent, await count_needing_a_human(session, account_id))


async def last_messages(session: AsyncSession, conversation_ids: Sequence[str]) -> dict[str, Message]:
    if not conversation_ids:
        return {}
    newest = (
        select(func.max(Message.id))
        .where(Message.conversation_number.in_(numbers_of(list(conversation_ids))))
        .group_by(Message.conversation_number)
    )
    rows = await session.scalars(select(Message).where(Message.id.in_(newest)))
    return {message.conversation_id: message for message in rows.all()}


async def count_unread(
    session: AsyncSession, account_id: int, where: ConversationFilter, token_id: int, cap: int
) -> int:
    """How many of the view's conversations (``where``) have a message after the sign-in's read
    mark, counted up to ``cap``: over the newest ``UNREAD_SCAN`` of the view's index range, each
    looked up by its newest message (the messages' index) and its mark (the reads' key)."""
    newest = newest_conversations(account_id, where, UNREAD_SCAN).subquery()
    last_message = select(func.max(Message.id)).where(Message.conversation_number == newest.c.number).scalar_subquery()
    read_up_to = (
        select(ConversationRead.last_read_message_id)
        .where(ConversationRead.conversation_id == newest.c.id, ConversationRead.token_id == token_id)
        .scalar_subquery()
    )
    unread = select(newest.c.id).where(last_message > func.coalesce(read_up_to, 0)).limit(cap).subquery()
    return await session.scalar(select(func.count()).select_from(unread)) or 0
