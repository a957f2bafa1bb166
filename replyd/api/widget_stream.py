"""A chat widget's live view: Server-Sent Events with each new message of the visitor's
conversation (the AI's answers, a human agent's, the visitor's own from another tab), whether the
AI is typing, and that a human agent is.

The stream waits for a notice of its conversation (``replyd.notices``: from this process, or
through Redis from another) and then reads the database, so what it shows is what is stored. With
no notice it reads anyway every ``poll_s`` (REPLYD_LIVE_POLL_S), which catches a change whose
notice was lost. Each message goes out with its id as the event's id: a browser that reconnects
sends the last one back (Last-Event-ID) and gets everything after it, so a dropped connection
loses nothing. A stream ends after ``STREAM_LIFETIME_S`` (the browser reconnects by itself), so
none holds up a graceful shutdown."""

import time
from collections.abc import AsyncIterator

from fastapi import Request

from replyd.api.widget_schemas import WidgetMessage
from replyd.notices import AGENT_TYPING, CHANGED, Notices
from replyd.services.widgets import WidgetService
from replyd.sse import ending_quietly, event

STREAM_LIFETIME_S = 25.0
"""Shorter than the default shutdown grace (REPLYD_SHUTDOWN_GRACE_S, 30 s)."""
RECONNECT_MS = 1000
KEEPALIVE_S = 15.0


def resume_after(request: Request, after: int) -> int:
    """Where the stream starts: after the Last-Event-ID a reconnecting browser sent, else ``after``."""
    last_id = request.headers.get("last-event-id", "")
    return int(last_id) if last_id.isdigit() and len(last_id) < 19 else after


def message_stream(
    request: Request, widgets: WidgetService, notices: Notices, poll_s: float, conversation_id: str, after_id: int
) -> AsyncIterator[str]:
    events = _events(request, widgets, notices, poll_s, conversation_id, after_id)
    return ending_quietly(events, "widget")


async def _events(
    request: Request, widgets: WidgetService, notices: Notices, poll_s: float, conversation_id: str, after_id: int
) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MS}\n\n"
    was_typing: bool | None = None
    started = last_sent = time.monotonic()
    with notices.listening(conversation_id) as listener:
        heard = {CHANGED}
        while time.monotonic() - started < STREAM_LIFETIME_S:
            if heard != {AGENT_TYPING}:  # something was stored, or it is time to look anyway
                messages, is_typing = await widgets.since(conversation_id, after_id)
                for message in messages:
                    after_id = message.id
                    last_sent = time.monotonic()
                    yield event("message", WidgetMessage.of(message).model_dump(mode="json"), str(message.id))
                if is_typing != was_typing:
                    was_typing = is_typing
                    yield event("typing", {"typing": is_typing, "by": "ai"})
            if AGENT_TYPING in heard:
                yield event("typing", {"typing": True, "by": "agent"})
            if time.monotonic() - last_sent >= KEEPALIVE_S:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            heard = await listener.next(poll_s)
            if await request.is_disconnected():
                return
