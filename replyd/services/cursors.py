"""Opaque keyset cursors: base64url of a small JSON document, so clients cannot depend on
their contents and replyd may change them. Each kind of cursor is a model, and one decoder
reads them all: whatever a client makes up instead is refused as 422 on ``cursor``, never
handed to a query that would fail on it (a boolean, a number past 64 bits, a lone surrogate)."""

import base64
from datetime import UTC
from typing import Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from replyd import json_rules
from replyd.errors import FieldProblem, ReplydError, ValidationFailed
from replyd.services.views import MAX_ID
from replyd.store.conversations import ActivityKey


class Cursor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerCursor(Cursor):
    """The usage ledger's next page: entries older than ``before``."""

    before: StrictInt = Field(ge=1, le=MAX_ID)


class HistoryCursor(Cursor):
    """A conversation's next page of history: its messages older than ``older_than``."""

    older_than: StrictInt = Field(ge=1, le=MAX_ID)


class ActivityCursor(Cursor):
    """A place in the conversations' newest-activity-first order, and which way to page from it."""

    d: Literal["next", "prev"]
    u: AwareDatetime
    n: StrictInt = Field(ge=1, le=MAX_ID)
    """The conversation's number (cursors before migration 0030 held its id, ``i``: refused, as
    any cursor replyd did not write is; a client starts its listing again)."""


C = TypeVar("C", bound=Cursor)


def encode(cursor: Cursor) -> str:
    return base64.urlsafe_b64encode(cursor.model_dump_json().encode()).decode().rstrip("=")


def decode(text: str, kind: type[C]) -> C:
    """The cursor of ``kind`` that ``text`` holds, or 422 if replyd did not write it so."""
    try:
        data = json_rules.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        json_rules.check(data)
        return kind.model_validate(data)
    except (ValueError, ReplydError):  # pydantic's ValidationError is a ValueError
        raise ValidationFailed(
            [FieldProblem("cursor", "Not a cursor this API gave out; start again without it.")]
        ) from None


def activity_cursor(direction: Literal["next", "prev"], key: ActivityKey) -> str:
    return encode(ActivityCursor(d=direction, u=key.updated_at, n=key.number))


def read_activity_cursor(text: str) -> tuple[str, ActivityKey]:
    cursor = decode(text, ActivityCursor)
    return cursor.d, ActivityKey(cursor.u.astimezone(UTC), cursor.n)


def ledger_cursor(before_id: int) -> str:
    return encode(LedgerCursor(before=before_id))


def read_ledger_cursor(text: str) -> int:
    return decode(text, LedgerCursor).before


def history_cursor(older_than_id: int) -> str:
    return encode(HistoryCursor(older_than=older_than_id))


def read_history_cursor(text: str) -> int:
    return decode(text, HistoryCursor).older_than
