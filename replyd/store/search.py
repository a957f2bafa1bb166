"""Which conversations a search finds: those whose customer identifier or one of whose
variables' values holds the text (any part of it, case aside), and those with a message
holding every word of it, each word or the start of a longer one.

The words are read from the database's own full-text index of messages (migration 0023:
FTS5 on SQLite, a GIN ``tsvector`` index on PostgreSQL), kept in the same transaction as the
messages; identifiers and variables are short, and what people search them for is a piece (the
last digits of a phone number, part of an order number), which word indexes do not find, so
they are compared as text on the account's conversations (docs/decisions.md)."""

import re
from typing import Any

from sqlalchemy import ColumnClause, Text, cast, column, exists, func, literal_column, or_, select, table

from replyd.store.tables import MESSAGES, Conversation

MAX_SEARCH_CHARS = 200

WORD = re.compile(r"[^\W_]+")
"""A word as both indexes read one: letters and digits (``unicode61`` and PostgreSQL's parser
split on everything else, underscores too)."""

MESSAGES_FTS = table("messages_fts", column("rowid"), column("messages_fts"))
SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")
"""Spelt as the index spells it: PostgreSQL uses an expression index only for that expression."""


def search_words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def matching(text: str, on_postgresql: bool) -> Any:
    """The condition on ``conversations`` that a search for ``text`` (not blank) finds."""
    piece = "%" + _escape_like(text.lower()) + "%"
    clauses = [
        func.lower(Conversation.customer_identifier).like(piece, escape="\\"),
        _variable_holding(piece, on_postgresql),
    ]
    words = search_words(text)
    if words:
        clauses.append(Conversation.id.in_(_with_words(words, on_postgresql)))
    return or_(*clauses)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _variable_holding(piece: str, on_postgresql: bool) -> Any:
    """A variable whose value (not its name) holds ``piece``."""
    if on_postgresql:
        values = func.json_each_text(Conversation.variables).table_valued("value")
    else:
        values = func.json_each(Conversation.variables).table_valued("value")
    return exists().where(func.lower(cast(values.c.value, Text)).like(piece, escape="\\"))


def _with_words(words: list[str], on_postgresql: bool) -> Any:
    """The conversations with a message holding each word, or a word starting with it."""
    if on_postgresql:
        query = " & ".join(f"{word}:*" for word in words)
        found = func.to_tsvector(SIMPLE, MESSAGES.c.content).bool_op("@@")(func.to_tsquery(SIMPLE, query))
        return select(MESSAGES.c.conversation_id).where(found)
    query = " ".join(f'"{word}"*' for word in words)
    return (
        select(MESSAGES.c.conversation_id)
        .join(MESSAGES_FTS, MESSAGES_FTS.c.rowid == MESSAGES.c.id)
        .where(MESSAGES_FTS.c.messages_fts.match(query))
    )
