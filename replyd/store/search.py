"""Which conversations a search finds: those whose customer identifier or one of whose
variables' values holds the text (any part of it, case aside), and those with a message
holding every word of it, each word or the start of a longer one.

Every part is read from an index (docs/decisions.md): the words from the messages' full-text
index (migration 0023: FTS5 on SQLite, a GIN ``tsvector`` index on PostgreSQL), the pieces of
identifiers and variables from a trigram index (0026: FTS5's ``trigram`` tokenizer, ``pg_trgm``).
How the list then meets them depends on how common the text is (issue 19):

- rare (the usual search: a name, an order number): the conversations the indexes find,
  every one of them, are looked up and ordered (``Search.found``);
- common (found in more than ``COMMON`` messages or conversations): collecting every match
  would read most of the database, so the list is walked in its order instead and each
  conversation checked (``Search.along``) until the page is full; a walk reads at most
  ``WALK`` conversations before it gives way to collecting, which bounds a common word found
  only in a few conversations;
- shorter than ``MIN_PIECE`` characters: no trigram finds it, so only the ``SHORT_WINDOW``
  most recently active conversations are looked through, as a walk (docs/api.md).
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Text,
    cast,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    union,
)
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from replyd.store.session import Executor, on_postgresql
from replyd.store.tables import MESSAGES, Conversation
from replyd.store.words import search_words

MAX_SEARCH_CHARS = 200
MIN_PIECE = 3
"""Characters a trigram index needs to find a piece."""
COMMON = 5_000
"""Matches from which a text counts as common: messages holding a word, conversations holding
the piece. Collecting that many costs a few milliseconds."""
WALK = 1_000
"""Conversations a walk reads before the search collects instead."""
LISTED = 10_000
"""Conversations found that the list's query is given as values; more, and it is given their query."""
SHORT_WINDOW = 1_000
"""The most recently active conversations a search shorter than ``MIN_PIECE`` looks through."""

MESSAGES_FTS = table("messages_fts", column("rowid"), column("messages_fts"))
MESSAGE_TERMS = table("messages_fts_terms", column("term"))
TRIGRAMS = table("conversation_search", column("rowid"), column("conversation_search"))
SEARCH_TEXT = table("conversation_search_text", column("id"), column("conversation_id"), column("text"))
SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")
"""Spelt as the index spells it: PostgreSQL uses an expression index only for that expression."""
LAST_CHARACTER = "\U0010ffff"
COMMON_WORDS = sql(
    "SELECT sum(frequency) * (SELECT reltuples FROM pg_class WHERE oid = 'messages'::regclass)"
    " FROM pg_stats, unnest(most_common_elems::text::text[], most_common_elem_freqs) AS e(word, frequency)"
    " WHERE schemaname = current_schema() AND tablename = 'ix_messages_search' AND starts_with(word, :word)"
)
"""How many messages hold a word or one starting with it, by PostgreSQL's statistics of the index."""
NO_PARALLEL_WORKERS = sql("SET LOCAL max_parallel_workers_per_gather = 0")


@dataclass(frozen=True)
class Search:
    """How to find a text, exactly either way: ``along`` is a condition on ``conversations``
    checked row by row along the list, ``found`` (None for a short text) the numbers of the
    conversations the indexes find."""

    along: Any
    found: Any | None
    common: bool
    """Walk the list (``along``) rather than look up what the indexes find."""

    @property
    def short(self) -> bool:
        return self.found is None


async def plan(db: Executor, text: str) -> Search:
    """How to find ``text`` (not blank). A walk looks up the conversations with the words in
    the index too when one of the words is rare, instead of reading each one's messages. On
    PostgreSQL the rest of the transaction, the search's, starts no parallel workers: its
    default guess for a word's start (2 % of the messages) made it start them, which cost
    more than the few rows read (5 against 15 ms at 2 million messages)."""
    postgresql = on_postgresql(db)
    if postgresql:
        await db.execute(NO_PARALLEL_WORKERS)
    piece = "%" + _escape_like(text.lower()) + "%"
    along = _holding_piece(Conversation, piece, postgresql)
    words = search_words(text)
    rare = [word for word, count in zip(words, await _word_counts(db, words), strict=True) if count < COMMON]
    found_words = _found_words(words, rare or words, postgresql) if words else None
    if found_words is not None:
        along = or_(along, Conversation.number.in_(found_words) if rare else _with_words_along(words, postgresql))
    if len(text) < MIN_PIECE:
        return Search(along, None, True)
    found, common_piece = await _found_pieces(db, text, piece)
    common = (bool(words) and not rare) or common_piece
    return Search(along, found if found_words is None else union(found, found_words), common)


async def looked_up(db: Executor, found: Any) -> Any:
    """The condition for the conversations numbered in ``found``, read first: given their
    values, both planners look each conversation up by its key; given the query, PostgreSQL
    took its default guess for a word's start (2 % of the messages) and read every
    conversation to join them."""
    numbers = list((await db.scalars(found.limit(LISTED + 1))).all())
    return Conversation.number.in_(numbers if len(numbers) <= LISTED else found)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _holding_piece(conversation: Any, piece: str, on_postgresql: bool) -> Any:
    """A conversation whose identifier, or a variable's value (not its name), holds ``piece``."""
    if on_postgresql:
        values = func.json_each_text(conversation.variables).table_valued("value")
    else:
        values = func.json_each(conversation.variables).table_valued("value")
    return or_(
        func.lower(conversation.customer_identifier).like(piece, escape="\\"),
        exists().where(func.lower(cast(values.c.value, Text)).like(piece, escape="\\")),
    )


def _with_words_along(words: list[str], on_postgresql: bool) -> Any:
    """This conversation has a message holding each word: its messages read one by one. On
    PostgreSQL the OFFSET keeps the planner from turning the EXISTS into a hash of every
    message the index finds, which it did wherever its guess for a word's start (2 % of the
    messages) looked small: 90 ms at 20,000 conversations for a word of every message."""
    ours = MESSAGES.c.conversation_number == Conversation.number
    if on_postgresql:
        return select(MESSAGES.c.id).where(ours, _tsvector_matches(words, MESSAGES.c.content)).offset(0).exists()
    return exists().where(ours, func.replyd_has_words(MESSAGES.c.content, " ".join(words)))


def _found_words(words: list[str], rare: list[str], on_postgresql: bool) -> Any:
    """The conversations with a message holding each word: the index finds the messages
    holding the ``rare`` ones, and each of those is checked for the rest (an index asked for a
    common word reads all its matches: FTS5 merges every longer word's, PostgreSQL's GIN index
    lists them all)."""
    if on_postgresql:
        found = select(MESSAGES.c.conversation_number, MESSAGES.c.content)
        found = found.where(_tsvector_matches(rare, MESSAGES.c.content))
        if rare == words:
            return found.with_only_columns(MESSAGES.c.conversation_number)
        # OFFSET 0 keeps the planner from asking the index for every word at once.
        rare_found = found.offset(0).subquery()
        return select(rare_found.c.conversation_number).where(_tsvector_matches(words, rare_found.c.content))
    query = " ".join(f'"{word}"*' for word in rare)
    found = (
        select(MESSAGES.c.conversation_number)
        .join(MESSAGES_FTS, MESSAGES_FTS.c.rowid == MESSAGES.c.id)
        .where(MESSAGES_FTS.c.messages_fts.match(query))
    )
    return found if rare == words else found.where(func.replyd_has_words(MESSAGES.c.content, " ".join(words)))


def _tsvector_matches(words: list[str], content: Any) -> Any:
    query = " & ".join(f"{word}:*" for word in words)
    return func.to_tsvector(SIMPLE, content).bool_op("@@")(func.to_tsquery(SIMPLE, query))


async def _found_pieces(db: Executor, text: str, piece: str) -> tuple[Any, bool]:
    """The conversations holding ``piece``, and whether they are more than ``COMMON``: those
    the trigram index finds, checked as ``_holding_piece`` checks them (the index reads the
    identifier and the values as one text, which a piece could span). On SQLite the index's
    finds are read once, up to ``COMMON``, and given as values: asking FTS5 again costs as much
    (10 ms for a piece of digits that most identifiers hold pieces of). PostgreSQL's planner
    estimates them (a GIN index returns its first match only once it has read them all)."""
    postgresql, other = on_postgresql(db), aliased(Conversation)
    candidates = _piece_candidates(text, piece, postgresql)
    if postgresql:
        common = await _estimate(db, candidates) >= COMMON
    else:
        ids = list((await db.scalars(candidates.limit(COMMON))).all())
        common = len(ids) >= COMMON
        candidates = candidates if common else ids
    return select(other.number).where(other.id.in_(candidates), _holding_piece(other, piece, postgresql)), common


def _piece_candidates(text: str, piece: str, on_postgresql: bool) -> Any:
    """The conversations whose identifier and values, as one text, hold ``piece``, by the trigram index."""
    holding = SEARCH_TEXT.c.text.like(piece, escape="\\")
    if on_postgresql:
        return select(SEARCH_TEXT.c.conversation_id).where(holding)
    found = select(SEARCH_TEXT.c.conversation_id).join(TRIGRAMS, TRIGRAMS.c.rowid == SEARCH_TEXT.c.id)
    return found.where(TRIGRAMS.c.conversation_search.match(_trigrams(text)), holding)


def _trigrams(text: str) -> str:
    """An FTS5 query for the texts holding each piece of three characters of ``text``, in any
    order, which FTS5 answers from its lists of texts alone; asked for ``text`` as a phrase it
    also compares their positions (10 against 3 ms for a piece of digits most identifiers hold
    pieces of, at 200,000 conversations). The text itself is compared after."""
    pieces = dict.fromkeys(text[start : start + 3] for start in range(len(text) - 2))
    return " AND ".join('"' + piece.replace('"', '""') + '"' for piece in pieces)


async def _word_counts(db: Executor, words: list[str]) -> list[int]:
    """How many messages hold each word or a longer one starting with it: on SQLite the
    index's entries for the words in range, counted up to ``COMMON`` (``fts5vocab``, one row
    per message and word, read no further than needed); on PostgreSQL as ANALYZE's statistics
    of the index tell it (the share of messages holding each of its most common words: a
    word not among them counts as none). Counting a common word's matches there costs
    what collecting them does, and the planner's own estimate for a prefix is a constant."""
    counts = []
    postgresql = on_postgresql(db)
    for word in words:
        if postgresql:
            counts.append(int(await db.scalar(COMMON_WORDS, {"word": word}) or 0))
        else:
            terms = select(MESSAGE_TERMS.c.term).where(
                MESSAGE_TERMS.c.term >= word, MESSAGE_TERMS.c.term < word + LAST_CHARACTER
            )
            counts.append(await _limited_count(db, terms))
    return counts


async def _limited_count(db: Executor, query: Any) -> int:
    return int(await db.scalar(select(func.count()).select_from(query.limit(COMMON).subquery())) or 0)


async def _estimate(db: Executor, query: Any) -> int:
    """The planner's estimate of the rows ``query`` returns (its values written into the
    statement: EXPLAIN takes no parameters, and the estimate depends on them)."""
    connection = await db.connection() if isinstance(db, AsyncSession) else db
    statement = query.compile(connection.engine, compile_kwargs={"literal_binds": True})
    plan = (await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}")).scalar_one()
    return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])
