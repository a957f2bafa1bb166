"""The console's event stream: it names conversations that changed, catches up with changes
made while no stream was open, and always ends (its lifetime, signing out), so that a
server's graceful shutdown never waits on it for long."""

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.console import live
from replyd.store import accounts, activity
from replyd.store.activity import Activity
from tests.conftest import Tenant
from tests.console.conftest import Console
from tests.store.plans import statements_of

Event = tuple[str, dict[str, Any], str | None]


async def events_of(response: httpx.Response) -> AsyncIterator[Event]:
    """(name, data, id) of each event; comments and ``retry:`` lines are skipped."""
    name, data, event_id = "message", "", None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line == "" and data:
            yield name, json.loads(data), event_id
            name, data, event_id = "message", "", None


async def next_event(stream: AsyncIterator[Event], name: str) -> Event:
    async for event in stream:
        if event[0] == name:
            return event
    raise AssertionError(f"the stream ended before a {name!r} event")


async def test_a_new_message_is_announced_with_its_conversation(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    first = (await tenant.reply("one", customer="+4901")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    async with console.client.stream("GET", "/console/events", timeout=15) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events_of(response)
        hello = await next_event(stream, "hello")
        assert hello[2] == hello[1]["fingerprint"]
        await tenant.reply("two", customer="+4901")
        _, change, event_id = await next_event(stream, "change")
        assert change == {"conversations": [first], "all": False, "needs_human": 0}
        assert event_id and event_id != hello[2]
        await tenant.client.post(f"/api/automate/conversations/{first}/disable-ai")
        _, takeover, _ = await next_event(stream, "change")
        assert takeover["conversations"] == [first]
        await tenant.client.delete(f"/api/conversations/{first}")
        _, erased, _ = await next_event(stream, "change")
        assert erased["all"] is True


async def test_every_event_counts_the_conversations_needing_a_human(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    tenant: Tenant = await make_tenant(handoff_triggers=["agent"])
    console: Console = await open_console(tenant)
    async with console.client.stream("GET", "/console/events", timeout=15) as response:
        stream = events_of(response)
        _, hello, seen = await next_event(stream, "hello")
        assert hello["needs_human"] == 0
        handed = (await tenant.reply("An agent, please", customer="+4966")).json()["conversation_id"]
        _, change, changed = await next_event(stream, "change")
        assert change == {"conversations": [handed], "all": False, "needs_human": 1}
        assert changed != seen, "the fingerprint moves with the count"
        await console.post(f"/console/conversations/{handed}/messages", {"message": "Hi, Anna here."})
        _, answered, _ = await next_event(stream, "change")
        assert answered["needs_human"] == 0


async def test_changes_made_while_no_stream_was_open_are_announced_at_once(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    async with console.client.stream("GET", "/console/events", timeout=15) as response:
        _, _, seen = await next_event(events_of(response), "hello")
    await tenant.reply("while away")
    async with console.client.stream("GET", "/console/events", headers={"Last-Event-ID": seen or ""}) as response:
        stream = events_of(response)
        await next_event(stream, "hello")
        _, change, _ = await next_event(stream, "change")
        assert change["all"] is True


async def test_the_stream_ends_after_its_lifetime_and_tells_the_browser_to_reconnect(
    tenant: Tenant, open_console: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "STREAM_LIFETIME_S", 0.2)
    console: Console = await open_console(tenant)
    async with console.client.stream("GET", "/console/events", timeout=15) as response:
        body = "".join([line + "\n" async for line in response.aiter_lines()])  # returns only if the stream ends
    assert body.startswith("retry: 1000\n") and "event: hello" in body


async def test_the_stream_ends_when_its_token_is_revoked(
    tenant: Tenant,
    open_console: Callable[..., Any],
    db: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "SESSION_CHECK_S", 0)
    console: Console = await open_console(tenant)
    async with console.client.stream("GET", "/console/events", timeout=15) as response:
        stream = events_of(response)
        await next_event(stream, "hello")
        async with db() as session, session.begin():
            await accounts.revoke_token(session, tenant.token_id)
        await next_event(stream, "signed-out")
        assert [event async for event in stream] == []


async def test_the_stream_of_another_account_hears_nothing_of_this_one(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    console: Console = await open_console(mine)
    async with console.client.stream("GET", "/console/events", timeout=15) as response:
        stream = events_of(response)
        await next_event(stream, "hello")
        await theirs.reply("not for you")
        await mine.reply("for you", customer="+4977")
        _, change, _ = await next_event(stream, "change")
        mine_only = (await mine.client.get("/api/user/conversations")).json()["data"]
        assert change["conversations"] == [mine_only[0]["id"]]


def at(seconds: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def test_a_change_names_new_and_touched_conversations_and_flags_erasures() -> None:
    before = Activity(2, {"a": at(1), "b": at(2)}, 0)
    assert live.change_between(before, before) is None
    touched = live.change_between(before, Activity(2, {"c": at(5), "a": at(4), "b": at(2)}, 0))
    assert touched == live.Change(["c", "a"], is_everything=False)
    erased = live.change_between(before, Activity(3, {"b": at(2)}, 0))
    assert erased == live.Change([], is_everything=True)
    erased_long_ago = live.change_between(before, Activity(3, {"a": at(1), "b": at(2)}, 0))
    assert erased_long_ago == live.Change([], is_everything=True)
    assert live.fingerprint(before) != live.fingerprint(Activity(2, {"a": at(1), "b": at(3)}, 0))


def test_a_change_in_the_count_of_conversations_needing_a_human_is_a_change() -> None:
    before = Activity(2, {"a": at(1), "b": at(2)}, 0)
    waiting = Activity(2, {"a": at(1), "b": at(2)}, 1)
    assert live.change_between(before, waiting) == live.Change([], is_everything=False)
    assert live.fingerprint(before) != live.fingerprint(waiting)


async def test_an_erasure_beyond_the_recent_conversations_is_a_change(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    old = (await tenant.reply("m", customer="+4910")).json()["conversation_id"]
    await tenant.reply("m", customer="+4911")
    async with db() as session:
        before = await activity.account_activity(session, tenant.account_id, 1)
    assert old not in before.recent
    await tenant.client.delete(f"/api/conversations/{old}")
    async with db() as session:
        after = await activity.account_activity(session, tenant.account_id, 1)
    assert live.change_between(before, after) == live.Change([], is_everything=True)


async def test_each_poll_counts_only_the_conversations_waiting_for_a_human(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    """The poll runs every second for each open page: a count over all of the account's
    conversations would cost each stream more as they grow."""
    sent = await statements_of(db, lambda session: activity.account_activity(session, tenant.account_id, 100))
    counts = [statement for statement, _ in sent if "count(" in statement.lower()]
    assert counts and all("needs_human" in statement for statement in counts)
