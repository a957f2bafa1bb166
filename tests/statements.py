"""Which statements the code under test runs, by any engine of this process."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def statements_starting(*beginnings: str) -> Iterator[list[str]]:
    """For each statement run that starts with one of ``beginnings`` (whitespace aside), that
    beginning, in order."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split())
        seen.extend(beginning for beginning in beginnings if text.startswith(beginning))

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)
