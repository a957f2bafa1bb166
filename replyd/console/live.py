"""Live updates as Server-Sent Events. Each open page holds one stream; the stream polls the
database every second for the account's activity and, when it changed, names the changed
conversations so the page can refresh just those fragments. Every event also carries the
account's count of conversations waiting for a human, which the page shows in its title.

Polling the database (instead of hooks in the reply engine) sees writes of every server
process alike. A stream ends when the browser goes away, when its session ends, and in any
case after ``STREAM_LIFETIME_S``: the browser then reconnects by itself (after ``retry``), so
no stream can hold up a graceful shutdown for longer than that. Each event carries the
activity's fingerprint as its id; a reconnecting browser sends it back (Last-Event-ID), and a
change made between two streams is announced at once."""

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from replyd.services import Services
from replyd.services.operators import Operator
from replyd.sse import ending_quietly, event
from replyd.store.activity import Activity

POLL_INTERVAL_S = 1.0
STREAM_LIFETIME_S = 25.0
"""Then the stream ends and the browser opens a new one: shorter than the default shutdown
grace (REPLYD_SHUTDOWN_GRACE_S, 30 s), so a stream ends by itself before uvicorn would cancel it."""
RECONNECT_MS = 1000
KEEPALIVE_S = 15.0
"""A comment line this often keeps proxies from closing a quiet stream."""
SESSION_CHECK_S = 10.0
"""How soon a stream notices that its session was signed out or its token revoked."""
RECENT_LIMIT = 100


@dataclass(frozen=True)
class Change:
    conversations: list[str]
    """Conversations with new messages or a new state; the list page refreshes for any."""
    is_everything: bool
    """Something went away (an erased conversation): every page should refresh."""


def fingerprint(activity: Activity) -> str:
    items = sorted((conversation_id, at.isoformat()) for conversation_id, at in activity.recent.items())
    return hashlib.sha256(json.dumps([activity.erasures, items, activity.needs_human]).encode()).hexdigest()[:24]


def change_between(before: Activity, after: Activity) -> Change | None:
    changed = [cid for cid, at in after.recent.items() if before.recent.get(cid) != at]
    is_gone = after.erasures != before.erasures or any(cid not in after.recent for cid in before.recent)
    if not changed and not is_gone and after.needs_human == before.needs_human:
        return None
    return Change(changed, is_gone)


async def read_activity(state: Services, account_id: int) -> Activity:
    return await state.conversations.activity(account_id, RECENT_LIMIT)


def event_stream(request: Request, state: Services, operator: Operator, since: str) -> AsyncIterator[str]:
    """``since`` is the fingerprint the page was rendered at (or the last event's id)."""
    return ending_quietly(_events(request, state, operator, since), "console")


async def _events(request: Request, state: Services, operator: Operator, since: str) -> AsyncIterator[str]:
    previous = await read_activity(state, operator.account_id)
    current_id = fingerprint(previous)
    yield f"retry: {RECONNECT_MS}\n\n"
    yield event("hello", {"fingerprint": current_id, "needs_human": previous.needs_human}, current_id)
    if since and since != current_id:
        yield event("change", _change_data(Change([], True), previous), current_id)
    started = last_sent = last_check = time.monotonic()
    while time.monotonic() - started < STREAM_LIFETIME_S:
        await asyncio.sleep(POLL_INTERVAL_S)
        if await request.is_disconnected():
            return
        now = time.monotonic()
        if now - last_check >= SESSION_CHECK_S:
            last_check = now
            if await state.operators.find(operator.session_id) is None:
                yield event("signed-out", {})
                return
        current = await read_activity(state, operator.account_id)
        change = change_between(previous, current)
        if change is not None:
            previous, last_sent = current, now
            yield event("change", _change_data(change, current), fingerprint(current))
        elif now - last_sent >= KEEPALIVE_S:
            last_sent = now
            yield ": keep-alive\n\n"


def _change_data(change: Change, current: Activity) -> dict[str, Any]:
    return {"conversations": change.conversations, "all": change.is_everything, "needs_human": current.needs_human}
