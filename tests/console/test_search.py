"""Searching the console's conversation list in a browser: a piece of a message typed into the
search box finds its conversations, filters narrow them, and the pages go older and back newer
with the search kept, on a laptop and on a phone."""

from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import Page, expect

from replyd.console import conversation_list
from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, PHONE, browser_sign_in


async def listed(page: Page) -> list[str]:
    return await page.locator(".row-customer").all_inner_texts()


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
async def test_part_of_a_message_finds_its_conversations_paged_older_and_back(
    tenant: Tenant, new_page: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, viewport: dict[str, int]
) -> None:
    monkeypatch.setattr(conversation_list, "PAGE_SIZE", 2)
    for n in range(5):
        await tenant.reply(f"Question {n} about my invoice", customer=f"+4955500{n}")
    await tenant.reply("Where is my parcel?", customer="+49555009")
    page: Page = await new_page(viewport=viewport)
    await browser_sign_in(page, tenant.token)

    await page.get_by_role("searchbox", name="Search").fill("invoi")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url("**/console/conversations?q=invoi&*")
    await expect(page.locator(".row-customer")).to_have_text(["+49555004", "+49555003"])
    await expect(page.get_by_role("link", name="Newer conversations")).to_have_count(0)

    await page.get_by_role("link", name="Older conversations").click()
    await expect(page.locator(".row-customer")).to_have_text(["+49555002", "+49555001"])
    await page.get_by_role("link", name="Older conversations").click()
    await expect(page.locator(".row-customer")).to_have_text(["+49555000"])
    await expect(page.get_by_role("link", name="Older conversations")).to_have_count(0)
    await expect(page.get_by_role("searchbox", name="Search")).to_have_value("invoi")

    await page.get_by_role("link", name="Newer conversations").click()
    await expect(page.locator(".row-customer")).to_have_text(["+49555002", "+49555001"])
    await page.get_by_role("link", name="Newer conversations").click()
    await expect(page.locator(".row-customer")).to_have_text(["+49555004", "+49555003"])
    await expect(page.get_by_role("link", name="Newer conversations")).to_have_count(0)


async def test_filters_beside_the_search_narrow_it_and_nothing_found_says_so(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    for customer in ("+4960001", "+4960002"):
        await tenant.reply("My refund is late", customer=customer)
    taken = (await tenant.client.get("/api/user/conversations", params={"q": "60002"})).json()["data"][0]["id"]
    await tenant.client.post(f"/api/automate/conversations/{taken}/disable-ai")
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)

    await page.get_by_role("searchbox", name="Search").fill("refund")
    await page.get_by_label("AI", exact=True).select_option("off")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(".row-customer")).to_have_text(["+4960002"])
    await page.get_by_label("AI", exact=True).select_option("on")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(".row-customer")).to_have_text(["+4960001"])

    await page.get_by_role("searchbox", name="Search").fill("zebra")
    await page.get_by_label("AI", exact=True).select_option("")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(".empty")).to_have_text("No conversation matches “zebra”.")
    await page.get_by_role("link", name="Clear").click()
    await expect(page.locator(".row-customer")).to_have_count(2)
