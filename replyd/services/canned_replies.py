"""An account's canned replies: written once on the console's page, picked in a conversation's
answer field with the conversation's ``{{variables}}`` filled in (the same placeholders, and the
same one-pass filling, as an assistant's system prompt)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.engine.variables import Scalar, builtin_variables, render_prompt
from replyd.errors import FieldProblem, ValidationFailed
from replyd.services.conversations import message_problem
from replyd.services.views import ConversationView, RowView
from replyd.store import canned_replies

MAX_TITLE_CHARS = 80


@dataclass(frozen=True)
class CannedReplyView(RowView):
    id: int
    title: str
    content: str
    created_at: datetime


@dataclass(frozen=True)
class FilledReply:
    title: str
    text: str
    """Its content with the conversation's variables filled in."""


class CannedReplyService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_message_chars: int) -> None:
        self._sessions = sessions
        self._max_message_chars = max_message_chars

    async def all(self, account_id: int) -> list[CannedReplyView]:
        """By title."""
        async with self._sessions() as session:
            return [CannedReplyView.of(row) for row in await canned_replies.canned_replies(session, account_id)]

    async def add(self, account_id: int, title: str, text: str) -> CannedReplyView:
        """``ValidationFailed`` for a blank or too long title or text, or a title the account has."""
        title = title.strip()
        problems = self._problems(title, text)
        async with self._sessions() as session, session.begin():
            if not problems and await canned_replies.find_by_title(session, account_id, title) is not None:
                problems.append(FieldProblem("title", "is the title of another canned reply; choose another"))
            if problems:
                raise ValidationFailed(problems)
            return CannedReplyView.of(await canned_replies.add_canned_reply(session, account_id, title, text, utcnow()))

    async def delete(self, account_id: int, reply_id: int) -> bool:
        """Whether it was there; another account's is left alone alike."""
        async with self._sessions() as session, session.begin():
            return await canned_replies.delete_canned_reply(session, account_id, reply_id)

    async def filled_for(self, conversation: ConversationView) -> list[FilledReply]:
        """The account's canned replies as they read in ``conversation``."""
        variables: Mapping[str, Scalar] = {
            **conversation.variables,
            **builtin_variables(conversation.customer_identifier or "", conversation.id, utcnow()),
        }
        return [
            FilledReply(reply.title, render_prompt(reply.content, variables))
            for reply in await self.all(conversation.account_id)
        ]

    def _problems(self, title: str, text: str) -> list[FieldProblem]:
        problems = []
        if not title:
            problems.append(FieldProblem("title", "must not be blank"))
        elif len(title) > MAX_TITLE_CHARS:
            problems.append(FieldProblem("title", f"must be at most {MAX_TITLE_CHARS} characters"))
        text_problem = message_problem(text, self._max_message_chars)
        if text_problem is not None:
            problems.append(FieldProblem("text", text_problem))
        return problems
