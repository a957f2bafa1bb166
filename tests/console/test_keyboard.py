"""The console by keyboard, as an operator works all day: j and k move through the list and
Enter opens; t takes over and r releases; Ctrl+Enter sends; "/" searches; the focus stays where
it was when a live update redraws the conversation; a long conversation opens at its newest
message with the composer in view."""

import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, browser_sign_in
from tests.console.test_browser import conversation_state, wait_until_live
from tests.servers import StubModel


async def conversations(tenant: Tenant, stub_model: StubModel, customers: list[str]) -> list[str]:
    """A conversation with each customer, the last one's the newest; their ids, in that order."""
    for customer in customers:
        stub_model.enqueue(f"Hello {customer}!")
        assert (await tenant.reply("Hi", customer=customer)).status_code == 200
    listed = (await tenant.client.get("/api/user/conversations")).json()["data"]
    by_customer = {c["external_identifier"]: c["id"] for c in listed}
    return [by_customer[customer] for customer in customers]


async def test_the_list_and_a_conversation_are_worked_by_keyboard_alone(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any]
) -> None:
    older, newer = await conversations(tenant, stub_model, ["+4915550001", "+4915550002"])
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.keyboard.press("/")
    await expect(page.locator("input[type=search]")).to_be_focused()
    await page.keyboard.press("Escape")
    await page.locator("body").click(position={"x": 5, "y": 300})  # out of the field
    await page.keyboard.press("j")
    await expect(page.locator(".conversation-row").first).to_be_focused()
    await page.keyboard.press("j")
    await page.keyboard.press("j")  # past the end stays on the last
    await page.keyboard.press("k")
    await expect(page.locator(".conversation-row").first).to_be_focused()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/console/conversations/{newer}")
    await wait_until_live(page)

    await page.keyboard.press("t")
    await expect(page.locator("[data-ai-state=on]")).to_have_count(0)
    assert (await conversation_state(tenant, newer))["ai_enabled"] is False
    await page.get_by_label("Message to the customer").fill("Anna here, by keyboard.")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator(".message-agent .message-text")).to_have_text("Anna here, by keyboard.")
    await page.locator("body").click(position={"x": 5, "y": 5})
    await page.keyboard.press("r")
    await expect(page.locator("[data-ai-state=on]")).to_have_count(1)
    assert (await conversation_state(tenant, newer))["ai_enabled"] is True
    assert (await conversation_state(tenant, older))["ai_enabled"] is True


async def test_the_focus_stays_where_it_was_across_a_live_update(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any]
) -> None:
    [conversation_id] = await conversations(tenant, stub_model, ["+4915550003"])
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.goto(f"/console/conversations/{conversation_id}")
    await wait_until_live(page)
    take_over = page.get_by_role("button", name="Take over")
    await take_over.focus()
    stub_model.enqueue("Still here.")
    assert (await tenant.reply("Are you there?", customer="+4915550003")).status_code == 200
    await expect(page.locator(".message-ai .message-text").last).to_have_text("Still here.")  # redrawn
    await expect(take_over).to_be_focused()


async def test_a_long_conversation_opens_at_its_newest_message_with_the_composer_in_view(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any]
) -> None:
    [conversation_id] = await conversations(tenant, stub_model, ["+4915550004"])
    path = f"/api/conversations/{conversation_id}/agent-messages"
    for n in range(40):
        assert (await tenant.client.post(path, json={"message": f"Line {n} of a long answer."})).status_code == 200
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.goto(f"/console/conversations/{conversation_id}")
    await expect(page.locator(".message-text").last).to_have_text("Line 39 of a long answer.")
    await expect(page.locator(".message-text").last).to_be_in_viewport()
    await expect(page.get_by_label("Message to the customer")).to_be_in_viewport()
    await expect(page.locator(".message-text").first).not_to_be_in_viewport()
    assert re.search(r"Line 0 ", await page.locator(".message-text").nth(2).inner_text())
