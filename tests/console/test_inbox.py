"""The inbox in Chromium: the list beside the open conversation, which opens without a page
load (the page's own variable survives), the address moving on so that Back returns; a phone
shows one pane at a time; a view, or another page of the list, shows beside the open
conversation without a page load either; a view's unread count drops as a conversation is opened and rises
as a customer writes; a note reaches another operator's open page live; j, k and Enter open
conversations in the pane; a long one opened there loads its earlier messages on scroll; after
a form in the pane, the list beside it keeps its view."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.console import conversation_list
from replyd.services.conversations import HISTORY_LIMIT
from replyd.store import conversations as store
from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, PHONE, browser_sign_in
from tests.console.test_browser import wait_until_live
from tests.console.test_keyboard import conversations
from tests.console.test_operators import anna_and_ben_on
from tests.servers import StubModel


async def marked(page: Page) -> Page:
    """The page, carrying a variable that a page load would lose."""
    await page.evaluate("window.marker = 'kept'")
    return page


async def is_same_page(page: Page) -> bool:
    return bool(await page.evaluate("window.marker === 'kept'"))


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
async def test_a_conversation_opens_beside_the_list_without_a_page_load_and_back_returns_to_the_list(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any], viewport: dict[str, int]
) -> None:
    older, newer = await conversations(tenant, stub_model, ["+4971001", "+4971002"])
    page: Page = await new_page(viewport=viewport)
    await browser_sign_in(page, tenant.token)
    await wait_until_live(await marked(page))
    pane, is_phone = page.locator("[data-pane]"), viewport == PHONE
    if is_phone:
        await expect(page.locator(".inbox-pane")).to_be_hidden()

    await page.locator(f"#row-{older}").click()

    await page.wait_for_url(f"**/console/conversations/{older}")
    await expect(pane.get_by_role("heading", name="+4971001")).to_be_visible()
    await expect(pane.locator(".message-ai")).to_contain_text("Hello +4971001!")
    await expect(page.get_by_label("Message to the customer")).to_be_in_viewport()
    await expect(page.locator(f"#row-{older}")).to_have_attribute("aria-current", "true")
    if is_phone:
        await expect(page.locator(".inbox-list")).to_be_hidden()
    else:
        await expect(page.locator(f"#row-{newer}")).to_be_visible()
    assert await is_same_page(page)

    await page.go_back()
    await page.wait_for_url("**/console/conversations")
    await expect(page.locator(f"#row-{newer}")).to_be_visible()
    await expect(page.locator(f"#row-{older}")).not_to_have_attribute("aria-current", "true")
    await expect(pane.get_by_role("heading")).to_have_count(0)
    await page.go_forward()
    await expect(pane.get_by_role("heading", name="+4971001")).to_be_visible()
    await pane.get_by_role("link", name="Back to the list").click()
    await page.wait_for_url("**/console/conversations")
    await expect(page.locator(f"#row-{older}")).to_be_visible()
    assert await is_same_page(page)
    await page.goto(f"/console/conversations/{newer}")  # an address of its own, both panes rendered
    await expect(page.locator(f"#row-{newer}")).to_have_attribute("aria-current", "true")
    await expect(pane.get_by_role("heading", name="+4971002")).to_be_visible()
    await page.context.close()


async def test_a_view_or_another_page_of_the_list_shows_beside_the_open_conversation_without_a_page_load(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    older, newer = await conversations(tenant, stub_model, ["+4971021", "+4971022"])
    monkeypatch.setattr(conversation_list, "PAGE_SIZE", 1)
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    await wait_until_live(await marked(page))
    pane, assigned = page.locator("[data-pane]"), page.locator("#filter-assigned")
    await page.locator(f"#row-{newer}").click()
    await expect(pane.get_by_role("heading", name="+4971022")).to_be_visible()
    await expect(page.locator(f"#row-{newer}")).to_have_attribute("aria-current", "true")  # the list redrawn

    await page.get_by_role("link", name="Older conversations").click()

    await page.wait_for_url(re.compile(rf"/console/conversations/{newer}\?cursor="))
    await expect(page.locator(f"#row-{older}")).to_be_visible()
    await expect(page.locator(f"#row-{newer}")).to_have_count(0)
    await page.locator("#view-mine").click()

    await page.wait_for_url(f"**/console/conversations/{newer}?assigned=me")
    await expect(page.locator("#view-mine")).to_have_attribute("aria-current", "page")
    await expect(page.locator(".conversation-row")).to_have_count(0)
    await expect(assigned).to_have_value("me")
    await expect(page.get_by_role("link", name="Clear")).to_be_visible()
    await expect(pane.get_by_role("heading", name="+4971022")).to_be_visible()
    assert await is_same_page(page)

    await page.go_back()
    await page.wait_for_url(re.compile(rf"/console/conversations/{newer}\?cursor="))
    await expect(page.locator(f"#row-{older}")).to_be_visible()
    await expect(assigned).to_have_value("")
    await expect(page.get_by_role("link", name="Clear")).to_be_hidden()
    assert await is_same_page(page)
    await page.context.close()


async def test_a_views_unread_count_drops_as_a_conversation_is_opened_and_rises_as_its_customer_writes(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any]
) -> None:
    first, second = await conversations(tenant, stub_model, ["+4971011", "+4971012"])
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    await wait_until_live(page)
    unread = page.locator("#view-all .view-count")
    await expect(unread).to_have_attribute("data-unread", "2")
    await expect(page.locator(f"#row-{first}")).to_have_class(re.compile(r"\bis-unread\b"))

    await page.locator(f"#row-{first}").click()

    await expect(unread).to_have_attribute("data-unread", "1")
    await expect(page.locator(f"#row-{first}")).not_to_have_class(re.compile(r"\bis-unread\b"))
    await expect(page.locator(f"#row-{second}")).to_have_class(re.compile(r"\bis-unread\b"))
    await tenant.reply("Still there?", customer="+4971011")  # read as it arrives: the conversation is open
    await expect(page.locator("[data-pane] .message-ai").last).to_contain_text("echo: Still there?")
    await expect(page.locator(f"#row-{first}")).to_contain_text("echo: Still there?")
    await expect(unread).to_have_attribute("data-unread", "1")
    await page.go_back()
    await tenant.reply("Hello?", customer="+4971011")
    await expect(unread).to_have_attribute("data-unread", "2")
    await expect(page.locator(f"#row-{first}")).to_have_class(re.compile(r"\bis-unread\b"))
    await page.context.close()


async def test_a_note_by_one_operator_appears_live_for_another_whose_own_draft_stays(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Can someone help me?")).json()["conversation_id"]
    anna, ben = await anna_and_ben_on(tenant, new_page, conversation_id)
    await wait_until_live(await marked(ben))
    await ben.get_by_label("Add a note").fill("Half a thought")

    await anna.get_by_label("Add a note").fill("Refund approved by finance.")
    await anna.get_by_role("button", name="Add note").click()

    await expect(ben.locator(".note-list li")).to_contain_text("Refund approved by finance.")
    await expect(ben.locator(".note-list li .hint")).to_contain_text("Anna")
    await expect(ben.get_by_label("Add a note")).to_have_value("Half a thought")
    assert await is_same_page(ben)


async def test_j_k_and_enter_open_conversations_in_the_pane_the_focus_staying_in_the_list(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any]
) -> None:
    older, newer = await conversations(tenant, stub_model, ["+4971021", "+4971022"])
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await wait_until_live(await marked(page))
    pane = page.locator("[data-pane]")

    for key in ("j", "j", "Enter"):
        await page.keyboard.press(key)

    await page.wait_for_url(f"**/console/conversations/{older}")
    await expect(pane.get_by_role("heading", name="+4971021")).to_be_visible()
    await expect(page.locator(f"#row-{older}")).to_have_attribute("aria-current", "true")
    await expect(page.locator(f"#row-{older}")).to_be_focused()
    await page.keyboard.press("k")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/console/conversations/{newer}")
    await expect(pane.get_by_role("heading", name="+4971022")).to_be_visible()
    await expect(page.locator(f"#row-{newer}")).to_be_focused()
    assert await is_same_page(page)


async def test_a_long_conversation_opened_in_the_pane_loads_its_earlier_messages_on_scroll(
    tenant: Tenant, new_page: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply("m0", customer="+4971031")).json()["conversation_id"]
    async with db() as session, session.begin():
        for n in range(1, HISTORY_LIMIT + 10):
            await store.add_message(session, conversation_id, author="customer", content=f"m{n}")
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    await wait_until_live(await marked(page))
    shown = page.locator("[data-pane] .messages > li")

    await page.locator(f"#row-{conversation_id}").click()
    await expect(shown).to_have_count(HISTORY_LIMIT)
    await page.evaluate("window.scrollTo(0, 0)")

    await expect(shown).to_have_count(HISTORY_LIMIT + 11)
    await expect(shown.first).to_contain_text("m0")
    assert await is_same_page(page)


async def test_after_a_form_in_the_pane_the_list_beside_it_keeps_its_view(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi", customer="+4971041")).json()["conversation_id"]
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    await page.locator("#view-unassigned").click()
    await expect(page.locator("#view-unassigned")).to_have_attribute("aria-current", "page")  # the list redrawn
    await page.locator(f"#row-{conversation_id}").click()
    await page.wait_for_url(f"**/console/conversations/{conversation_id}?assigned=nobody")

    await page.get_by_role("button", name="Take over").click()

    await expect(page.locator("[data-pane] [data-ai-state='off']")).to_be_visible()
    await page.wait_for_url(f"**/console/conversations/{conversation_id}?assigned=nobody")
    await expect(page.locator("#view-unassigned")).to_have_attribute("aria-current", "page")
