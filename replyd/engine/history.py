"""The recent history of the conversations this process answers, kept between their turns.

Reading every message after the summary's mark and turning each into prompt units, on every
turn, cost a reply more CPU the longer its conversation grew (docs/performance.md, issue 12).
Instead, a turn that settles keeps here the messages its prompt was made from, with its own
message and its reply; the next turn reads only the messages stored after the kept ones, and
none at all when the conversation's count of messages after the mark (read as the turn opens
it) says there are none.

The count is what makes the kept messages safe to use, whoever else writes to the
conversation (another server process, the command line, an operator): the kept messages are
stored messages, never edited and only deleted with their conversation, whose id is never
used again. So if the conversation has as many messages after the mark as are kept, plus those
read after them, none is missing; if not, the history is read whole, as without this cache.
A message's reply status can change, but only the last message's matters (``keep_message``),
and the last is either read fresh or the reply this process stored, which never has one."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from replyd.engine.context import Turn
from replyd.engine.prompt import as_turns
from replyd.store import conversations
from replyd.store.conversations import OpenConversation, StoredTurn

MAX_CONVERSATIONS = 2_000
"""Past it the least recently answered conversation is forgotten (and read whole next time)."""


@dataclass(frozen=True)
class History:
    """A conversation's messages after its summary's mark, oldest first (the newest ``limit``)."""

    turns: list[Turn]
    unanswered: StoredTurn | None = None
    """The last message, if it is a customer's still awaiting an answer (see ``keep_message``)."""

    def before(self, message_id: int) -> list[Turn]:
        """The turns before the message a turn answers: all of them, or all but the last when
        the turn answers that one (a retry of an unanswered message)."""
        return [turn for turn in self.turns if turn.message_id < message_id]


class Histories:
    def __init__(self) -> None:
        self._kept: dict[str, tuple[Turn, ...]] = {}
        """By conversation id, least recently answered first."""

    async def read(self, db: AsyncConnection, conversation: OpenConversation, limit: int) -> History:
        """The conversation's newest ``limit`` messages after its summary's mark."""
        mark, count = conversation.summary_through_id or 0, conversation.messages_after_mark
        kept = self._kept.get(conversation.id)
        if kept:
            still_kept = [turn for turn in kept if turn.message_id > mark]
            rows: list[StoredTurn] = []
            if count > len(still_kept):  # stored since, by this process or another writer
                rows = await conversations.recent_turns(db, conversation.id, limit, after_id=kept[-1].message_id)
            if count == len(still_kept) + len(rows):  # so none is missing among the kept ones
                return _history(still_kept + as_turns(rows), rows, limit)
        rows = await conversations.recent_turns(db, conversation.id, limit, after_id=mark)
        return _history(as_turns(rows), rows, limit)

    def keep(self, conversation_id: str, turns: Sequence[Turn]) -> None:
        """What a settled turn knows of its conversation: the messages its prompt was made
        from, then its customer's message and its reply."""
        self._kept.pop(conversation_id, None)
        if len(self._kept) >= MAX_CONVERSATIONS:
            del self._kept[next(iter(self._kept))]
        self._kept[conversation_id] = tuple(turns)


def _history(turns: list[Turn], rows: Sequence[StoredTurn], limit: int) -> History:
    """``rows``: the messages read from the database, the newest last."""
    last = rows[-1] if rows else None
    is_unanswered = last is not None and last.author == "customer" and last.awaits_answer
    return History(turns[-limit:], last if is_unanswered else None)
