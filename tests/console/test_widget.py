"""The chat widget in Chromium, on a shop's page served from another origin than replyd: the
bubble, a reply, history after a reload, a human agent's typing and message arriving live, a refused
origin, keyboard-only use, a hostile stylesheet, and a phone's screen."""

import hashlib
import hmac
import html
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from replyd.store.tables import Account
from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, PHONE, WAIT_MS, browser_sign_in
from tests.servers import StubModel, serve_in_thread

HOSTILE_CSS = """
* { font-family: "Comic Sans MS", cursive !important; color: #0f0 !important; box-sizing: content-box !important; }
div, button, ol, li, textarea, form, header, replyd-widget { display: inline !important; padding: 40px !important;
  transform: rotate(3deg) !important; border-radius: 0 !important; background: #ff0 !important; }
replyd-widget { position: static !important; opacity: 0.2 !important; filter: blur(2px) !important; }
"""


class Shop:
    """The integrator's site: a page with the widget's script tag, on an origin of its own."""

    def __init__(self) -> None:
        self.script = ""
        self.css = ""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/", self._page)])

    async def _page(self, _: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang='en'><head><meta name='viewport' content='width=device-width'>"
            f"<title>Greenleaf Tea</title><style>{self.css}</style></head><body>"
            "<h1>Greenleaf Tea</h1><p>Loose-leaf teas from small gardens, shipped across Europe.</p>"
            f"<a href='#teas'>Our teas</a>{self.script}</body></html>"
        )


@pytest.fixture(scope="module")
def shop_server() -> Iterator[tuple[Shop, str]]:
    shop = Shop()
    with serve_in_thread(shop.app()) as url:
        yield shop, url


@pytest.fixture
async def shop(
    shop_server: tuple[Shop, str], server: str, tenant: Tenant, make_widget: Callable[..., Any]
) -> AsyncIterator[tuple[Shop, str]]:
    """The shop's page with the tenant's widget, allowed on the shop's origin."""
    shop, url = shop_server
    key = await make_widget(tenant, [url], title="Greenleaf Tea", greeting="Hi! Ask us about teas and orders.")
    shop.script = f'<script src="{html.escape(server)}/widget.js" data-key="{key}" async></script>'
    shop.css = ""
    yield shop, url


def widget(page: Page) -> Locator:
    return page.locator("replyd-widget")


async def open_and_send(page: Page, text: str) -> None:
    await page.get_by_role("button", name="Open chat").click()
    await page.get_by_label("Type your message").fill(text)
    await page.get_by_role("button", name="Send").click()


async def test_a_visitor_is_answered_and_sees_the_history_after_a_reload(
    shop: tuple[Shop, str], new_page: Callable[..., Any], stub_model: StubModel
) -> None:
    stub_model.enqueue("Yes, our Darjeeling ships to Austria in 3 days.")
    page = await new_page()
    await page.goto(shop[1])

    await open_and_send(page, "Do you ship to Austria?")
    log = page.get_by_role("log")
    await expect(log.locator("li.ai")).to_have_text("Yes, our Darjeeling ships to Austria in 3 days.")
    await page.reload()
    await page.get_by_role("button", name="Open chat").click()

    await expect(page.get_by_role("log").locator("li")).to_have_text(
        ["Do you ship to Austria?", "Yes, our Darjeeling ships to Austria in 3 days."]
    )


async def test_an_operator_takes_over_in_the_console_and_the_visitor_sees_the_agent_typing_and_the_message_live(
    shop: tuple[Shop, str], new_page: Callable[..., Any], tenant: Tenant, stub_model: StubModel
) -> None:
    stub_model.enqueue("Let me check that for you.")
    visitor = await new_page()
    await visitor.goto(shop[1])
    await open_and_send(visitor, "My order 1042 has not arrived.")
    await expect(visitor.get_by_role("log").locator("li.ai")).to_have_count(1)

    operator = await new_page()
    await browser_sign_in(operator, tenant.token)
    await operator.get_by_role("link", name="visitor:").click()
    await operator.get_by_role("button", name="Take over").click()
    await operator.get_by_label("Message to the customer").fill("Hi, I'm Anna from Greenleaf: it left today.")

    typing = visitor.get_by_role("status").filter(has_text="An agent is typing…")
    await expect(typing).to_be_visible()
    await operator.get_by_role("button", name="Send as agent").click()
    agent = visitor.get_by_role("log").locator("li.agent")
    await expect(agent).to_have_text("AgentHi, I'm Anna from Greenleaf: it left today.")
    await expect(typing).to_be_hidden()


async def test_a_signed_in_user_finds_their_conversation_anywhere_and_leaves_none_behind(
    shop: tuple[Shop, str], server: str, tenant: Tenant, new_page: Callable[..., Any], stub_model: StubModel, db: Any
) -> None:
    page_with_widget = shop[0].script
    async with db() as session:
        secret = await session.scalar(select(Account.widget_secret).where(Account.id == tenant.account_id))
    user_hash = hmac.new(secret.encode(), b"crm-4711", hashlib.sha256).hexdigest()
    shop[0].script = page_with_widget.replace("async>", f'data-user-id="crm-4711" data-user-hash="{user_hash}" async>')
    stub_model.enqueue("Your order left today.")
    laptop = await new_page()
    await laptop.goto(shop[1])
    await open_and_send(laptop, "Where is my order?")
    await expect(laptop.get_by_role("log").locator("li.ai")).to_have_count(1)

    phone = await new_page(viewport=PHONE)
    await phone.goto(shop[1])
    await phone.get_by_role("button", name="Open chat").click()
    await expect(phone.get_by_role("log").locator("li")).to_have_count(2)
    shop[0].script = page_with_widget  # signed out, on the laptop
    await laptop.reload()
    await laptop.get_by_role("button", name="Open chat").click()

    await expect(laptop.get_by_role("log")).to_have_attribute("aria-busy", "false")  # the conversation is open
    await expect(laptop.get_by_role("log").locator("li")).to_have_count(0)


async def test_a_page_of_an_origin_the_widget_does_not_allow_gets_no_widget(
    shop_server: tuple[Shop, str],
    server: str,
    tenant: Tenant,
    make_widget: Callable[..., Any],
    new_page: Callable[..., Any],
) -> None:
    shop, url = shop_server
    key = await make_widget(tenant, ["https://greenleaf.example.com"])
    shop.script = f'<script src="{server}/widget.js" data-key="{key}"></script>'
    page = await new_page()
    async with page.expect_console_message(lambda message: message.text.startswith("replyd widget:")):
        await page.goto(url)

    await expect(widget(page)).to_have_count(0)


async def test_a_refusal_is_shown_and_the_visitors_text_kept_to_send_again(
    shop_server: tuple[Shop, str],
    server: str,
    make_tenant: Callable[..., Any],
    make_widget: Callable[..., Any],
    new_page: Callable[..., Any],
) -> None:
    shop, url = shop_server
    broke = await make_tenant(balance="0.00")
    shop.script = f'<script src="{server}/widget.js" data-key="{await make_widget(broke, [url])}"></script>'
    page = await new_page()
    await page.goto(url)

    await open_and_send(page, "Is anyone there?")

    await expect(page.get_by_role("alert")).to_have_text(
        "The assistant cannot answer right now; please try again later."
    )
    await expect(page.get_by_label("Type your message")).to_have_value("Is anyone there?")
    await expect(page.get_by_role("log").locator("li")).to_have_count(0)


async def test_the_widget_works_with_the_keyboard_alone(
    shop: tuple[Shop, str], new_page: Callable[..., Any], stub_model: StubModel
) -> None:
    stub_model.enqueue("We have green, black and oolong teas.")
    page = await new_page()
    await page.goto(shop[1])
    launcher = page.get_by_role("button", name="Open chat")
    await expect(launcher).to_be_visible()

    await page.keyboard.press("Tab")  # the page's link
    await page.keyboard.press("Tab")
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")
    field = page.get_by_label("Type your message")
    await expect(field).to_be_focused()
    await page.keyboard.type("Which teas do you have?")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("log").locator("li.ai")).to_have_text("We have green, black and oolong teas.")

    send, close = page.get_by_role("button", name="Send"), page.get_by_role("button", name="Close chat")
    for stop in (send, close, field):  # Tab goes round within the open panel
        await page.keyboard.press("Tab")
        await expect(stop).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_be_hidden()
    await expect(launcher).to_be_focused()


async def test_the_pages_own_hostile_css_does_not_change_the_widget(
    shop: tuple[Shop, str], new_page: Callable[..., Any]
) -> None:
    looks = []
    for css in ("", HOSTILE_CSS):
        shop[0].css = css
        page = await new_page()
        await page.goto(shop[1])
        await page.get_by_role("button", name="Open chat").click()
        looks.append(await appearance(page))
        await page.context.close()

    assert looks[0] == looks[1]
    assert looks[0]["launcher"]["width"] == 56


async def appearance(page: Page) -> dict[str, Any]:
    """Where the widget's parts are and how they look, as the browser computed them."""
    found: dict[str, Any] = {}
    for name, part in {
        "launcher": page.locator("replyd-widget .launcher"),
        "panel": page.get_by_role("dialog"),
        "title": page.get_by_role("dialog").get_by_role("heading"),
        "field": page.get_by_label("Type your message"),
    }.items():
        found[name] = await part.evaluate(
            """node => { const box = node.getBoundingClientRect(), style = getComputedStyle(node);
              return {x: box.x, y: box.y, width: box.width, height: box.height, font: style.fontFamily,
                      color: style.color, background: style.backgroundColor, opacity: style.opacity,
                      filter: style.filter, transform: style.transform}; }"""
        )
    return found


async def test_on_a_360_pixel_phone_the_open_panel_fills_the_screen(
    shop: tuple[Shop, str], new_page: Callable[..., Any]
) -> None:
    page = await new_page(viewport={"width": 360, "height": 740})
    await page.goto(shop[1])
    await page.get_by_role("button", name="Open chat").click()

    box = await page.get_by_role("dialog").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 360, "height": 740}
    await expect(page.get_by_role("button", name="Close chat")).to_be_in_viewport()
    await expect(page.get_by_role("button", name="Send")).to_be_in_viewport()


async def test_screenshots_of_the_widget_on_a_shop_page(
    shop: tuple[Shop, str], new_page: Callable[..., Any], stub_model: StubModel, screenshots: Path
) -> None:
    """The README's pictures (rewritten with REPLYD_UPDATE_SCREENSHOTS=1)."""
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        stub_model.enqueue("Yes: our Darjeeling ships to Austria in 3 days, free from 40 EUR.")
        page = await new_page(viewport=viewport)
        await page.goto(shop[1])
        await open_and_send(page, "Do you ship to Austria?")
        await expect(page.get_by_role("log").locator("li.ai")).to_have_count(1, timeout=WAIT_MS)
        await page.screenshot(path=screenshots / f"widget-{name}.png")
        await page.context.close()
