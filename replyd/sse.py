"""Server-Sent Events, as the console's live pages and the chat widget's stream write them."""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)


def event(name: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """One event; a browser that reconnects sends the last ``event_id`` back (Last-Event-ID)."""
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


async def ending_quietly(stream: AsyncIterator[str], what: str) -> AsyncIterator[str]:
    """``stream``, ended at its first failure (a failed poll) with a warning in the log: the
    browser reconnects by itself, and an exception would only cut the answer."""
    try:
        async for chunk in stream:
            yield chunk
    except Exception:
        log.warning("%s event stream failed", what, exc_info=True)
