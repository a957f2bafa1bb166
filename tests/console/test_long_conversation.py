"""A long conversation in the console, in a real browser: it opens at its end (the newest
messages), and the earlier ones load a page at a time as the operator scrolls up to them,
the view staying on the message it was on; a live update keeps what was loaded. A conversation
of long messages opens in under 1 MB."""

from collections.abc import Callable
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.services.conversations import HISTORY_LIMIT
from replyd.store import conversations
from tests.api.test_answer_size import MB, a_conversation_of_long_messages
from tests.conftest import Tenant
from tests.console.conftest import Console, browser_sign_in
from tests.console.test_browser import wait_until_live

EARLIER = 349
"""Messages written before the newest exchange: with it, a few pages' worth."""


async def scroll_to_top(page: Page, message_id: str) -> float:
    """Where the message is in the window once the page is scrolled to its top (read at once,
    before anything the scroll sets off can move it)."""
    top: float = await page.evaluate(
        "id => { window.scrollTo(0, 0); return document.getElementById(id).getBoundingClientRect().top; }",
        message_id,
    )
    return top


async def test_a_long_conversation_loads_earlier_messages_as_the_operator_scrolls_up(
    tenant: Tenant, new_page: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply("m0")).json()["conversation_id"]  # and the AI's answer
    async with db() as session, session.begin():
        for n in range(1, EARLIER + 1):
            await conversations.add_message(session, conversation_id, author="customer", content=f"m{n}")
    total = EARLIER + 2
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    await page.goto(f"/console/conversations/{conversation_id}")
    shown = page.locator(".messages > li")
    await expect(shown).to_have_count(HISTORY_LIMIT)
    await expect(shown.last).to_contain_text(f"m{EARLIER}")
    await wait_until_live(page)
    assert await page.evaluate("window.scrollY") > 0  # it opened at its end

    for loaded in range(2 * HISTORY_LIMIT, total + HISTORY_LIMIT, HISTORY_LIMIT):
        was_first = await shown.first.get_attribute("id")
        assert was_first
        top_before = await scroll_to_top(page, was_first)
        await expect(shown).to_have_count(min(loaded, total))
        box = await page.locator(f"#{was_first}").bounding_box()
        assert box and abs(box["y"] - top_before) < 2, (box, top_before)  # the view stayed on it
    await expect(shown.first).to_contain_text("m0")
    await expect(page.get_by_role("link", name="Earlier messages")).to_have_count(0)
    contents = await page.locator(".messages > li .message-text").all_inner_texts()
    assert contents[0] == "m0" and contents[2:] == [f"m{n}" for n in range(1, EARLIER + 1)]

    await tenant.reply("A new question")  # a live update: the newest messages are fetched again
    await expect(page.locator(".message-customer").last).to_contain_text("A new question")
    await expect(shown).to_have_count(total + 2)
    await expect(shown.first).to_contain_text("m0")


async def test_earlier_messages_are_their_accounts_alone_and_need_a_cursor_replyd_gave(
    tenant: Tenant, make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Only mine")).json()["conversation_id"]
    path = f"/console/conversations/{conversation_id}/earlier"
    mine: Console = await open_console(tenant)
    assert "Only mine" in (await mine.client.get(path)).text
    assert (await mine.client.get(path, params={"cursor": "edited"})).status_code == 422
    theirs: Console = await open_console(await make_tenant())
    answer = await theirs.client.get(path)
    assert answer.status_code == 404 and "Only mine" not in answer.text


async def test_the_console_opens_a_conversation_of_long_messages_under_1_mb(
    tenant: Tenant, db: async_sessionmaker[AsyncSession], open_console: Any
) -> None:
    conversation_id = await a_conversation_of_long_messages(tenant, db, 60)
    console = await open_console(tenant)
    page = await console.client.get(f"/console/conversations/{conversation_id}")
    assert page.status_code == 200 and len(page.content) < MB and "59:xxx" in page.text
