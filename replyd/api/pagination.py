"""Opaque keyset cursors: base64url of a small JSON document, so clients cannot depend on
their contents and replyd may change them."""

import base64
import json
from datetime import datetime
from typing import Any

from replyd.errors import FieldProblem, ValidationFailed
from replyd.store.conversations import ActivityKey


def encode(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def bad_cursor() -> ValidationFailed:
    return ValidationFailed([FieldProblem("cursor", "Not a cursor this API gave out; start again without it.")])


def decode(cursor: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise bad_cursor() from None
    if not isinstance(data, dict):
        raise bad_cursor()
    return data


def activity_cursor(direction: str, key: ActivityKey) -> str:
    return encode({"d": direction, "u": key.updated_at.isoformat(), "i": key.id})


def read_activity_cursor(cursor: str) -> tuple[str, ActivityKey]:
    data = decode(cursor)
    try:
        direction, key = data["d"], ActivityKey(datetime.fromisoformat(data["u"]), str(data["i"]))
    except (KeyError, TypeError, ValueError):
        raise bad_cursor() from None
    if direction not in ("next", "prev"):
        raise bad_cursor()
    return direction, key
