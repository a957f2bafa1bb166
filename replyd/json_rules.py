"""What replyd accepts as JSON from outside (request bodies, the CLI's ``--config`` file, the
console's functions field): text that is valid Unicode without NUL, nested at most
``MAX_DEPTH`` levels.

Python's json module lets both faults through. A ``\\ud800`` escape becomes a lone surrogate,
which no database column, log line or UTF-8 answer can hold, so the conversation that stored
it would fail on every later read. And a document nested a thousand levels makes every
recursive reader (json itself, pydantic, jsonschema) raise RecursionError."""

import json
import re
from typing import Any

from replyd.errors import FieldProblem, InvalidJson, NestingTooDeep, ValidationFailed

MAX_DEPTH = 64
"""Most levels of objects and arrays in one document: ``{"a": [1]}`` is 2 deep."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""NUL, and UTF-16 surrogates: ``json.loads`` joins every well-formed pair, so any left are lone."""


def loads(text: str | bytes) -> Any:
    """``json.loads``, refusing what it cannot nest with ``NestingTooDeep``; broken JSON still
    raises ``ValueError``. Pass the result to ``check`` before using it."""
    try:
        return json.loads(text)
    except RecursionError:  # the parser itself gives up at about 1,000 levels
        raise too_deep("") from None


def loads_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object that keeps the rules, or ``InvalidJson`` (or the rules'
    own errors) saying what is wrong with it."""
    try:
        data = loads(raw)
    except ValueError:  # UnicodeDecodeError too
        raise InvalidJson("The request body is not valid JSON; send a JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidJson("The request body must be a JSON object.")
    check(data)
    return data


def check(data: Any, field: str = "") -> None:
    """Raise ``NestingTooDeep`` if ``data`` is nested deeper than ``MAX_DEPTH``, and
    ``ValidationFailed`` naming every key or string holding NUL or a lone surrogate (under
    ``field``, where ``data`` is one field's value)."""
    problems = _problems(data, field, 1)
    if problems:
        raise ValidationFailed(problems)


def depth_exceeds(data: Any, limit: int) -> bool:
    """Whether ``data`` has more than ``limit`` levels of objects and arrays; it looks no deeper."""
    if not isinstance(data, dict | list):
        return False
    if limit <= 0:
        return True
    items = data.values() if isinstance(data, dict) else data
    return any(depth_exceeds(item, limit - 1) for item in items)


def is_valid_text(text: str) -> bool:
    """Whether ``text`` can be stored and sent: valid Unicode, no NUL."""
    return _UNSTORABLE.search(text) is None


def too_deep(field: str) -> NestingTooDeep:
    where = f" (at {field})" if field else ""
    return NestingTooDeep(f"The JSON is nested deeper than {MAX_DEPTH} levels of objects and arrays{where}.")


def _problems(value: Any, path: str, depth: int) -> list[FieldProblem]:
    if isinstance(value, str):
        bad = _UNSTORABLE.search(value)
        return [FieldProblem(path or "body", _rule_broken(bad.group()))] if bad else []
    if not isinstance(value, dict | list):
        return []
    if depth > MAX_DEPTH:
        raise too_deep(path.partition(".")[0])
    found = []
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        where = f"{path}.{_printable(str(key))}" if path else _printable(str(key))
        bad = _UNSTORABLE.search(key) if isinstance(key, str) else None
        found += [FieldProblem(where, _rule_broken(bad.group()))] if bad else _problems(item, where, depth + 1)
    return found


def _rule_broken(character: str) -> str:
    if character == "\x00":
        return "Must not contain the NUL character (\\u0000)."
    return f"Must be valid Unicode text: \\u{ord(character):04x} is half of a UTF-16 surrogate pair."


def _printable(key: str) -> str:
    """A key as it can appear in an answer: NUL and surrogates written as ``\\uXXXX``."""
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", key)
