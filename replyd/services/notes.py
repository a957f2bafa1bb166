"""Private notes operators leave on a conversation for each other: never sent to the customer,
never shown to the model (they are not messages: see ``store.notes``). A note is activity: the
conversation moves up the list, and the other operators' open pages show the note live."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.errors import FieldProblem, ValidationFailed
from replyd.services.conversations import find_conversation, message_problem
from replyd.services.views import RowView
from replyd.store import conversations, notes

MAX_NOTE_CHARS = 4000


@dataclass(frozen=True)
class NoteView(RowView):
    id: int
    author: str
    content: str
    created_at: datetime


class NoteService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, account_id: int, conversation_id: str, author: str, text: str) -> NoteView:
        """``author``: the operator, as events name one (``console token 7``)."""
        problem = message_problem(text, MAX_NOTE_CHARS)
        if problem is not None:
            raise ValidationFailed([FieldProblem("note", problem)])
        async with self._sessions() as session, session.begin():
            await find_conversation(session, account_id, conversation_id)
            note = await notes.add_note(session, conversation_id, author, text, utcnow())
            await conversations.mark_activity(session, conversation_id)  # the other operators' pages show it
            return NoteView.of(note)

    async def newest(self, account_id: int, conversation_id: str) -> list[NoteView]:
        """Newest first (at most ``notes.NOTES_SHOWN``)."""
        async with self._sessions() as session:
            await find_conversation(session, account_id, conversation_id)
            return [NoteView.of(row) for row in await notes.newest_notes(session, conversation_id)]
