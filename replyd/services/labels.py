"""Labels on conversations: an operator adds and removes them on a conversation's page; the
list shows them. A label is a few lowercase words, so ``Refund`` and ``refund `` are one."""

import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.errors import FieldProblem, ValidationFailed
from replyd.services.conversations import find_conversation
from replyd.store import labels

LABEL = re.compile(r"\w[\w -]{0,39}")
"""A letter or digit first, then letters, digits, spaces and hyphens: 40 characters at most."""


def normalised(label: str) -> str:
    """The label as it is kept; ``ValidationFailed`` for one that cannot be."""
    label = " ".join(label.split()).lower()
    if not LABEL.fullmatch(label):
        problem = "must be 1 to 40 letters, digits, spaces or hyphens, starting with a letter or digit"
        raise ValidationFailed([FieldProblem("label", problem)])
    return label


class LabelService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, account_id: int, conversation_id: str, label: str) -> str:
        """The label as kept. Adding one the conversation has changes nothing."""
        label = normalised(label)
        async with self._sessions() as session, session.begin():
            await find_conversation(session, account_id, conversation_id)
            await labels.add_label(session, conversation_id, label)
        return label

    async def remove(self, account_id: int, conversation_id: str, label: str) -> None:
        async with self._sessions() as session, session.begin():
            await find_conversation(session, account_id, conversation_id)
            await labels.remove_label(session, conversation_id, label)

    async def in_use(self, account_id: int) -> list[str]:
        """The account's labels on any conversation, alphabetically."""
        async with self._sessions() as session:
            return await labels.labels_in_use(session, account_id)

    async def of(self, conversation_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each conversation's labels, alphabetically; the caller has checked the ids are its own."""
        async with self._sessions() as session:
            return await labels.labels_of(session, conversation_ids)
