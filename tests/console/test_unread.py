"""Unread counts and read marks, over HTTP as the console's pages and fragments answer: a
conversation is unread for an operator until they are shown it after its newest message;
each view above the list counts its own unread conversations, for each operator apart; the
conversation's page renders the list beside it, and its pane alone marks it read too."""

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.console import conversation_list
from replyd.console.routes import conversations as conversation_routes
from replyd.services import reads as read_service
from replyd.store.reads import ConversationRead
from tests.conftest import Tenant
from tests.console.conftest import Console, csrf_token, sign_in
from tests.console.test_operators import operator_token

FRAGMENT = {"X-Console-Fragment": "1"}


def counts(page: str) -> dict[str, int]:
    """Each view's unread count, as the list shows it."""
    return {name: int(n) for name, n in re.findall(r'id="view-(\w+)".*?data-unread="(\d+)"', page, re.DOTALL)}


def unread_rows(page: str) -> list[str]:
    return re.findall(r'class="conversation-row is-unread" id="row-([^"]+)"', page)


async def listed(console: Console, **params: str) -> str:
    response = await console.client.get("/console/conversations/rows", params=params, headers=FRAGMENT)
    assert response.status_code == 200
    return response.text


@pytest.fixture
async def operator_named(tenant: Tenant, server: str) -> Any:
    """``await operator_named("Anna")``: the tenant's operator of that name, signed in."""
    clients: list[httpx.AsyncClient] = []

    async def open(name: str) -> Console:
        client = httpx.AsyncClient(base_url=server, timeout=30)
        clients.append(client)
        assert (await sign_in(client, (await operator_token(tenant, name)).json()["api_token"])).status_code == 303
        return Console(client, csrf_token((await client.get("/console/conversations")).text))

    yield open
    for client in clients:
        await client.aclose()


async def test_a_conversation_is_unread_until_opened_and_again_when_the_customer_writes(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    first = (await tenant.reply("Hi", customer="+4970001")).json()["conversation_id"]
    second = (await tenant.reply("Hello", customer="+4970002")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    before = await listed(console)
    assert sorted(unread_rows(before)) == sorted([first, second])
    assert counts(before)["all"] == 2 and counts(before)["unassigned"] == 2

    assert (await console.client.get(f"/console/conversations/{first}")).status_code == 200

    opened = await listed(console)
    assert unread_rows(opened) == [second]
    assert counts(opened)["all"] == 1
    await tenant.reply("Are you there?", customer="+4970001")
    written = await listed(console)
    assert sorted(unread_rows(written)) == sorted([first, second])
    assert counts(written)["all"] == 2


async def test_the_live_fragment_of_an_open_conversation_marks_its_new_messages_read(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    await console.client.get(f"/console/conversations/{conversation_id}")
    await tenant.reply("One more thing")
    assert unread_rows(await listed(console)) == [conversation_id]

    live = await console.client.get(f"/console/conversations/{conversation_id}/live", headers=FRAGMENT)

    assert "One more thing" in live.text
    assert unread_rows(await listed(console)) == []


async def test_a_page_of_earlier_messages_leaves_the_conversation_unread(
    tenant: Tenant, open_console: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversation_routes, "HISTORY_LIMIT", 2)
    for text in ("one", "two", "three"):
        conversation_id = (await tenant.reply(text)).json()["conversation_id"]
    console: Console = await open_console(tenant)
    latest = await console.client.get(f"/console/conversations/{conversation_id}/live", headers=FRAGMENT)
    await tenant.reply("four")
    older = re.search(r'data-earlier="([^"]+)"', latest.text)
    assert older

    await console.client.get(f"/console/conversations/{conversation_id}", params={"older": older.group(1)})

    assert unread_rows(await listed(console)) == [conversation_id]


async def test_each_operator_reads_for_themselves(tenant: Tenant, operator_named: Any) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    anna, ben = await operator_named("Anna"), await operator_named("Ben")

    await anna.client.get(f"/console/conversations/{conversation_id}")

    assert counts(await listed(anna))["all"] == 0
    assert counts(await listed(ben))["all"] == 1
    assert unread_rows(await listed(ben)) == [conversation_id]


async def test_each_view_counts_its_own_unread_conversations(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    tenant: Tenant = await make_tenant(handoff_triggers=["agent"])
    handoff = (await tenant.reply("An agent, please", customer="+4970011")).json()["conversation_id"]
    mine = (await tenant.reply("Hi", customer="+4970012")).json()["conversation_id"]
    await tenant.reply("Hi", customer="+4970013")
    console: Console = await open_console(tenant)
    await console.post(f"/console/conversations/{mine}/assign")

    page = await listed(console)

    assert counts(page) == {"needs_human": 1, "mine": 1, "unassigned": 2, "all": 3}
    await console.client.get(f"/console/conversations/{handoff}")
    assert counts(await listed(console)) == {"needs_human": 0, "mine": 1, "unassigned": 1, "all": 2}


async def test_the_view_the_list_shows_is_marked_and_its_links_keep_it(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    console: Console = await open_console(tenant)

    page = (await console.client.get("/console/conversations", params={"assigned": "nobody"})).text

    assert re.search(r'id="view-unassigned" href="/console/conversations\?assigned=nobody" aria-current="page"', page)
    assert 'id="view-all" href="/console/conversations">' in page
    assert f'href="/console/conversations/{conversation_id}?assigned=nobody"' in page


async def test_counts_stop_at_the_cap(
    tenant: Tenant, open_console: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_service, "UNREAD_CAP", 3)
    monkeypatch.setattr(conversation_list, "UNREAD_CAP", 3)
    for n in range(5):
        await tenant.reply("Hi", customer=f"+497002{n}")
    console: Console = await open_console(tenant)

    page = await listed(console)

    assert counts(page)["all"] == 3
    assert re.search(r'data-unread="3">2\+<span class="visually-hidden"> unread', page)


async def test_the_conversation_page_has_the_list_beside_it_its_row_current(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi", customer="+4970031")).json()["conversation_id"]
    other = (await tenant.reply("Hi", customer="+4970032")).json()["conversation_id"]
    console: Console = await open_console(tenant)

    page = (await console.client.get(f"/console/conversations/{conversation_id}", params={"q": "4970"})).text

    assert (
        f'id="row-{conversation_id}" href="/console/conversations/{conversation_id}?q=4970" aria-current="true"' in page
    )
    assert f'id="row-{other}" href="/console/conversations/{other}?q=4970">' in page
    assert f'data-live-src="/console/conversations/rows?q=4970&amp;open={conversation_id}"' in page
    assert 'href="/console/conversations?q=4970" data-close-pane>' in page
    assert 'id="composer"' in page and 'class="inbox inbox-open"' in page


async def test_the_pane_is_the_conversation_alone_and_marks_it_read(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    console: Console = await open_console(tenant)

    pane = await console.client.get(f"/console/conversations/{conversation_id}/pane", headers=FRAGMENT)

    assert pane.status_code == 200
    assert "<html" not in pane.text and 'class="conversation-list"' not in pane.text
    assert 'id="composer"' in pane.text and "echo: Hi" in pane.text
    async with db() as session:
        marks = (
            await session.scalars(select(ConversationRead).where(ConversationRead.token_id == tenant.token_id))
        ).all()
    assert [(m.conversation_id, m.last_read_message_id > 0) for m in marks] == [(conversation_id, True)]


async def test_another_accounts_pane_is_not_found_and_marks_nothing(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    theirs: Tenant = await make_tenant()
    conversation_id = (await theirs.reply("private")).json()["conversation_id"]
    console: Console = await open_console(await make_tenant())

    pane = await console.client.get(f"/console/conversations/{conversation_id}/pane", headers=FRAGMENT)

    assert pane.status_code == 404 and "private" not in pane.text
    async with db() as session:
        assert (
            await session.scalar(select(ConversationRead).where(ConversationRead.conversation_id == conversation_id))
            is None
        )


async def test_the_live_fragment_carries_the_notes_for_the_page_to_put_in_place(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    path = f"/console/conversations/{conversation_id}"
    await console.post(f"{path}/notes", {"note": "Call back on Monday."})

    live = (await console.client.get(f"{path}/live", headers=FRAGMENT)).text
    page = (await console.client.get(path)).text

    assert re.search(r'<div data-live-part="notes">\s*<ol class="note-list">.*Call back on Monday', live, re.DOTALL)
    assert page.count('data-live-part="notes"') == 1  # in the notes' section, not twice


async def test_a_note_moves_the_conversation_on_so_open_pages_redraw_it(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    before = await last_activity(tenant)

    await console.post(f"/console/conversations/{conversation_id}/notes", {"note": "Seen."})

    assert await last_activity(tenant) > before


async def last_activity(tenant: Tenant) -> str:
    [conversation] = (await tenant.client.get("/api/user/conversations")).json()["data"]
    moment: str = conversation["updated_at"]
    return moment


async def test_erasing_a_conversation_erases_its_read_marks(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    await console.client.get(f"/console/conversations/{conversation_id}")

    assert (await tenant.client.delete(f"/api/conversations/{conversation_id}")).status_code == 200

    async with db() as session:
        assert (
            await session.scalar(select(ConversationRead).where(ConversationRead.conversation_id == conversation_id))
            is None
        )


async def test_a_form_leads_back_to_the_conversation_beside_the_list_its_page_showed(
    tenant: Tenant, open_console: Callable[..., Any], server: str
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    path = f"/console/conversations/{conversation_id}"

    beside = await console.post(f"{path}/take-over", headers={"Referer": f"{server}{path}?assigned=nobody&older=x"})
    elsewhere = await console.post(f"{path}/hand-back", headers={"Referer": f"{server}/console/conversations?q=a"})
    noted = await console.post(f"{path}/notes", {"note": "Seen."}, headers={"Referer": f"{server}{path}?q=a%26b"})

    assert beside.headers["location"] == f"{path}?assigned=nobody"
    assert elsewhere.headers["location"] == path
    assert noted.headers["location"] == f"{path}?q=a%26b#notes"


async def test_a_refused_form_shows_its_page_again_beside_the_list_its_page_showed(
    tenant: Tenant, open_console: Callable[..., Any], server: str
) -> None:
    opened, mine, nobodys = [
        (await tenant.reply("Hi", customer=f"+4915555{n}")).json()["conversation_id"] for n in range(3)
    ]
    console: Console = await open_console(tenant)
    assert (await console.post(f"/console/conversations/{mine}/assign")).status_code == 303
    path = f"/console/conversations/{opened}"

    refused = await console.post(f"{path}/notes", {"note": " "}, headers={"Referer": f"{server}{path}?assigned=nobody"})

    assert refused.status_code == 422
    rows = re.findall(r'class="conversation-row[^"]*" id="row-([^"]+)"', refused.text)
    assert nobodys in rows and mine not in rows
    assert re.search(r'id="view-unassigned" href="[^"]*" aria-current="page"', refused.text)
