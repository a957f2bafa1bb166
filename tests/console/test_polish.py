"""The console's polish (issue 18): every time in one form, relative with the exact time on
hover; dark mode as the system is set; a form sent back with problems puts the focus on the
first field to fix, whose message is in plain words; the ledger readable on a phone."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, PHONE, browser_sign_in
from tests.servers import StubModel


async def test_every_time_reads_as_a_relative_one_with_the_exact_time_on_hover(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any]
) -> None:
    stub_model.enqueue("Hello!")
    assert (await tenant.reply("Hi")).status_code == 200
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.get_by_role("link", name=re.compile(r"\+49155551234")).click()
    times = page.locator("main time[datetime]")
    await expect(times.first).to_have_text(re.compile(r"^(now|\d+ (second|minute)s? ago)$"))
    for n in range(await times.count()):
        when = times.nth(n)
        assert re.fullmatch(r"now|\d+ (second|minute)s? ago", await when.inner_text())
        assert re.search(r"2\d{3}", await when.get_attribute("title") or "")  # the exact date on hover
    assert "UTC" not in await page.locator("main").inner_text()


async def background_of(page: Page) -> tuple[int, ...]:
    colour = await page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    return tuple(int(part) for part in re.findall(r"\d+", colour)[:3])


async def test_dark_mode_follows_the_system_setting(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any], screenshots: Path
) -> None:
    stub_model.enqueue("Hello! How can I help?")
    assert (await tenant.reply("Hi, is the shop open on Saturday?")).status_code == 200
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.get_by_role("link", name=re.compile(r"\+49155551234")).click()
    await page.emulate_media(color_scheme="light")
    assert sum(await background_of(page)) > 600
    await page.emulate_media(color_scheme="dark")
    assert sum(await background_of(page)) < 120
    text = await page.evaluate("getComputedStyle(document.querySelector('h1')).color")
    assert sum(int(part) for part in re.findall(r"\d+", text)[:3]) > 600  # light text on the dark page
    await page.screenshot(path=screenshots / "conversation-dark-laptop.png", full_page=True)


async def test_the_first_field_to_fix_has_the_focus_and_says_what_it_must_be(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.goto("/console/channels")
    await page.get_by_label("Twilio SMS", exact=True).check()
    await page.get_by_label("Twilio SMS: account sid").fill("AC" + "0" * 32)
    await page.get_by_label("Twilio SMS: auth token").fill("9a8b7c6d5e4f")
    await page.get_by_label("Twilio SMS: from number").fill("0151 5555 1234")
    await page.get_by_role("button", name="Add channel").click()
    field = page.get_by_label("Twilio SMS: from number")
    await expect(field).to_be_focused()
    await expect(page.locator("#error-twilio-from_number")).to_have_text(
        "Must be a phone number in international form (E.164), like +14155550100."
    )


async def test_the_ledger_is_readable_on_a_phone(
    tenant: Tenant, stub_model: StubModel, new_page: Callable[..., Any]
) -> None:
    stub_model.enqueue("Hello!")
    assert (await tenant.reply("Hi")).status_code == 200
    page: Page = await new_page(viewport=PHONE)
    await browser_sign_in(page, tenant.token)
    await page.goto("/console/usage")
    amounts = page.locator("#ledger-title ~ .table-wrap td[data-label^='Amount']")
    await expect(amounts.first).to_be_visible()
    box = await amounts.first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
