"""A chat widget's live view: Server-Sent Events with each new message of the visitor's
conversation (the AI's answers, a human agent's, the visitor's own from another tab) and
whether the AI is typing.

The stream polls the database, as the console's does, so it sees what every server process
stores alike. Each message goes out with its id as the event's id: a browser that reconnects
sends the last one back (Last-Event-ID) and gets everything after it, so a dropped connection
loses nothing. A stream ends after ``STREAM_LIFETIME_S`` (the browser reconnects by itself),
so none holds up a graceful shutdown."""

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import Request

from replyd.api.widget_schemas import WidgetMessage
from replyd.services.widgets import WidgetService
from replyd.sse import ending_quietly, event

POLL_INTERVAL_S = 0.5
STREAM_LIFETIME_S = 25.0
"""Shorter than the default shutdown grace (REPLYD_SHUTDOWN_GRACE_S, 30 s)."""
RECONNECT_MS = 1000
KEEPALIVE_S = 15.0


def resume_after(request: Request, after: int) -> int:
    """Where the stream starts: after the Last-Event-ID a reconnecting browser sent, else ``after``."""
    last_id = request.headers.get("last-event-id", "")
    return int(last_id) if last_id.isdigit() and len(last_id) < 19 else after


def message_stream(request: Request, widgets: WidgetService, conversation_id: str, after_id: int) -> AsyncIterator[str]:
    return ending_quietly(_events(request, widgets, conversation_id, after_id), "widget")


async def _events(request: Request, widgets: WidgetService, conversation_id: str, after_id: int) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    was_typing: bool | None = None
    started = last_sent = time.monotonic()
    while time.monotonic() - started < STREAM_LIFETIME_S:
        messages, is_typing = await widgets.since(conversation_id, after_id)
        for message in messages:
            after_id = message.id
            yield event("message", WidgetMessage.of(message).model_dump(mode="json"), str(message.id))
        if is_typing != was_typing:
            was_typing = is_typing
            yield event("typing", {"typing": is_typing})
        now = time.monotonic()
        if messages:
            last_sent = now
        elif now - last_sent >= KEEPALIVE_S:
            last_sent = now
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_INTERVAL_S)
        if await request.is_disconnected():
            return
