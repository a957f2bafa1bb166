"""The console in a real browser (headless Chromium driven by Playwright) against the live
server: an operator watches a conversation arrive, takes it over, answers and hands it back,
and the API agrees at each step. Also: refusals seen from the browser, reading with
JavaScript off, the API docs with no internet, and screenshots of every page (into docs/console/ with
REPLYD_UPDATE_SCREENSHOTS=1, else into a temporary directory)."""

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page, Route, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store import accounts
from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, PHONE, browser_sign_in
from tests.console.demo import make_demo_account
from tests.servers import StubModel


async def wait_until_live(page: Page) -> None:
    """The page's event stream is open: what happens from now on is pushed to it."""
    await expect(page.locator("body[data-live='on']")).to_have_count(1)


async def conversation_state(tenant: Tenant, conversation_id: str) -> dict[str, Any]:
    response = await tenant.client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200
    state: dict[str, Any] = response.json()
    return state


async def test_operator_sees_a_conversation_arrive_live_takes_over_answers_and_hands_back(
    tenant: Tenant, new_page: Callable[..., Any], stub_model: StubModel
) -> None:
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    await expect(page.get_by_text("No conversations yet")).to_be_visible()
    await wait_until_live(page)

    stub_model.enqueue("We open at nine.")
    conversation_id = (await tenant.reply("When do you open?", customer="+4915550001")).json()["conversation_id"]
    row = page.get_by_role("link", name=re.compile(r"\+4915550001"))
    await expect(row).to_be_visible()  # pushed by the event stream: the page was not reloaded
    await expect(row).to_contain_text("We open at nine.")
    await expect(row).not_to_contain_text("Taken over")

    await row.click()
    await page.wait_for_url(f"**/console/conversations/{conversation_id}")
    await expect(page.locator(".message-customer")).to_contain_text("When do you open?")
    await expect(page.locator(".message-ai")).to_contain_text("We open at nine.")

    await page.get_by_role("button", name="Take over").click()
    await expect(page.locator("[data-pane] [data-ai-state='off']")).to_be_visible()
    assert (await conversation_state(tenant, conversation_id))["ai_enabled"] is False

    await wait_until_live(page)
    waiting = (await tenant.reply("Hello? Anyone there?", customer="+4915550001")).json()
    assert waiting["ai_disabled"] is True
    await expect(page.locator(".message-customer").last).to_contain_text("Hello? Anyone there?")  # live

    await page.get_by_label("Message to the customer").fill("Hi, Maria from support here.")
    await page.get_by_role("button", name="Send as agent").click()
    await expect(page.locator(".message-agent")).to_contain_text("Hi, Maria from support here.")
    history = (await conversation_state(tenant, conversation_id))["history"]
    assert (history[-1]["role"], history[-1]["author"], history[-1]["content"]) == (
        "assistant",
        "agent",
        "Hi, Maria from support here.",
    )

    await page.get_by_role("button", name="Hand back to AI").click()
    await expect(page.locator("[data-pane] [data-ai-state='on']")).to_be_visible()
    assert (await conversation_state(tenant, conversation_id))["ai_enabled"] is True
    await page.context.close()


async def test_the_list_marks_a_conversation_taken_over_elsewhere_live(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi", customer="+4915550002")).json()["conversation_id"]
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    row = page.get_by_role("link", name=re.compile(r"\+4915550002"))
    await expect(row).not_to_contain_text("Taken over")
    await wait_until_live(page)
    await tenant.client.post(f"/api/automate/conversations/{conversation_id}/disable-ai")
    await expect(row).to_contain_text("Taken over")
    await page.context.close()


FAKE_AUDIO = """
window.beeps = 0;
window.AudioContext = function () {
  var node = function () { return { connect: function () {}, frequency: {}, start: function () { window.beeps += 1; },
    stop: function () {}, gain: { setValueAtTime: function () {}, exponentialRampToValueAtTime: function () {} } }; };
  return { currentTime: 0, destination: {}, resume: function () {}, createOscillator: node, createGain: node };
};
"""
"""Counts the console's beeps instead of playing them."""


async def test_the_tab_title_counts_handoffs_live_and_beeps_only_when_the_operator_asked(
    make_tenant: Callable[..., Any], new_page: Callable[..., Any]
) -> None:
    tenant: Tenant = await make_tenant(handoff_triggers=["agent"])
    page: Page = await new_page()
    await page.add_init_script(FAKE_AUDIO)
    await browser_sign_in(page, tenant.token)
    await wait_until_live(page)
    await expect(page).to_have_title("Conversations · replyd console")
    await expect(page.locator(".nav-count")).to_be_hidden()

    await tenant.reply("An agent, please", customer="+4915550010")
    await expect(page).to_have_title("(1) Conversations · replyd console")  # pushed: the page was not reloaded
    await expect(page.locator(".nav-count")).to_have_text("1 waiting for a human")
    row = page.get_by_role("link", name=re.compile(r"\+4915550010"))
    await expect(row).to_contain_text("Handoff · needs a human")
    assert await page.evaluate("window.beeps") == 0, "the sound is off until the operator turns it on"

    await page.get_by_label("Sound when a conversation needs a human").check()
    await page.wait_for_function("window.beeps === 1")  # a sample, as it was turned on
    await tenant.reply("I need an agent", customer="+4915550011")
    await expect(page).to_have_title("(2) Conversations · replyd console")
    await page.wait_for_function("window.beeps === 2")
    await page.reload()
    await expect(page.get_by_label("Sound when a conversation needs a human")).to_be_checked()
    await expect(page).to_have_title("(2) Conversations · replyd console")
    await page.context.close()


FAKE_NOTIFICATIONS = """
window.notices = [];
window.Notification = function (title, options) { window.notices.push([title, options.body]); };
window.Notification.permission = localStorage.getItem("granted") ? "granted" : "default";
window.Notification.requestPermission = function () {
  localStorage.setItem("granted", "1");
  window.Notification.permission = "granted";
  return Promise.resolve("granted");
};
"""
"""Records the console's browser notifications; the browser grants the permission when asked,
and remembers it across page loads."""


async def test_a_browser_notification_tells_of_a_handoff_once_the_operator_turned_them_on(
    make_tenant: Callable[..., Any], new_page: Callable[..., Any]
) -> None:
    tenant: Tenant = await make_tenant(handoff_triggers=["agent"])
    page: Page = await new_page()
    await page.add_init_script(FAKE_NOTIFICATIONS)
    await browser_sign_in(page, tenant.token)
    await wait_until_live(page)
    await tenant.reply("An agent, please", customer="+4915550020")
    await expect(page).to_have_title("(1) Conversations · replyd console")
    assert await page.evaluate("window.notices") == [], "no notification until the operator turns them on"

    await page.get_by_label("Browser notification when a conversation needs a human").check()
    await tenant.reply("I need an agent", customer="+4915550021")

    for _ in range(150):  # a polling wait_for_function would need eval, which the console's CSP forbids
        if await page.evaluate("window.notices.length"):
            break
        await asyncio.sleep(0.1)
    assert await page.evaluate("window.notices") == [
        ["A conversation needs a human", "2 conversations are waiting for a human."]
    ]
    await page.reload()
    await expect(page.get_by_label("Browser notification when a conversation needs a human")).to_be_checked()
    await page.context.close()


async def test_a_replies_token_cannot_sign_in_in_the_browser(
    tenant: Tenant, new_page: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    async with db() as session, session.begin():
        replies = await accounts.create_token(session, tenant.account_id, scope="replies")
    page: Page = await new_page()
    await page.goto("/console/sign-in")
    await page.get_by_label("API token").fill(replies.secret)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("replies token")
    await page.goto("/console/conversations")
    await expect(page).to_have_url(re.compile(r"/console/sign-in"))
    await page.context.close()


async def test_a_form_post_without_csrf_token_is_refused_in_the_browser(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi")).json()["conversation_id"]
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    # the signed-in browser's cookies go along; only the form's CSRF token is missing
    response = await page.request.post(f"/console/conversations/{conversation_id}/take-over", form={"a": "b"})
    assert response.status == 403
    assert (await conversation_state(tenant, conversation_id))["ai_enabled"] is True
    await page.context.close()


async def test_another_accounts_conversation_answers_404_in_the_browser(
    make_tenant: Callable[..., Any], new_page: Callable[..., Any]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    their_conversation = (await theirs.reply("secret stuff")).json()["conversation_id"]
    page: Page = await new_page()
    await browser_sign_in(page, mine.token)
    response = await page.goto(f"/console/conversations/{their_conversation}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await expect(page.get_by_text("secret stuff")).to_have_count(0)
    await page.context.close()


async def test_conversations_can_be_read_and_taken_over_with_javascript_off(
    tenant: Tenant, new_page: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("No script here", customer="+4915550003")).json()["conversation_id"]
    page: Page = await new_page(javascript=False)
    await browser_sign_in(page, tenant.token)
    await page.get_by_role("link", name=re.compile(r"\+4915550003")).click()
    await expect(page.locator(".message-ai")).to_contain_text("echo: No script here")
    await page.get_by_role("button", name="Take over").click()
    await expect(page.locator("[data-pane] [data-ai-state='off']")).to_be_visible()
    assert (await conversation_state(tenant, conversation_id))["ai_enabled"] is False
    await page.context.close()


async def test_an_assistant_is_created_with_inline_errors_fixed_and_tried(
    tenant: Tenant, new_page: Callable[..., Any], stub_model: StubModel
) -> None:
    page: Page = await new_page()
    await browser_sign_in(page, tenant.token)
    await page.get_by_role("link", name="Assistants").click()
    await page.get_by_role("link", name="New assistant").click()
    await page.get_by_label("Name", exact=True).fill("Browser-made")
    await page.get_by_label("Model", exact=True).fill("openai:stub-model")
    await page.get_by_label("Functions (JSON)").fill('[{"name": "lookup", "url": "not a url"}]')
    await page.get_by_role("button", name="Create assistant").click()
    functions = page.get_by_label("Functions (JSON)")
    await expect(functions).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#error-functions")).to_contain_text("0.url")
    await functions.fill("[]")
    await page.get_by_role("button", name="Create assistant").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    assistant_id = int(re.findall(r"/console/assistants/(\d+)", page.url)[0])
    created = (await tenant.client.get(f"/api/assistants/{assistant_id}")).json()["assistant"]
    assert created["name"] == "Browser-made" and created["model"] == "openai:stub-model"

    stub_model.enqueue("Hello, test customer!")
    await page.get_by_label("Your message").fill("Is anyone there?")
    await page.get_by_role("button", name="Send", exact=True).click()
    chat = page.get_by_role("list", name="Test chat")
    await expect(chat).to_contain_text("Is anyone there?")
    await expect(chat).to_contain_text("Hello, test customer!")
    tests = (await tenant.client.get("/api/user/conversations", params={"type": "test"})).json()["data"]
    assert [t["assistant_id"] for t in tests] == [assistant_id]
    await page.context.close()


async def test_the_api_docs_render_with_every_request_to_another_host_blocked(
    new_page: Callable[..., Any], server: str
) -> None:
    """As on a machine without internet: /docs and /redoc must need nothing but replyd."""
    page: Page = await new_page()
    elsewhere: list[str] = []

    async def only_this_server(route: Route) -> None:
        if route.request.url.startswith(server + "/"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_this_server)
    await page.goto("/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("replyd")
    await expect(page.get_by_text("/api/ai/generate-reply").first).to_be_visible()
    await page.goto("/redoc")
    await expect(page.get_by_role("heading", name=re.compile(r"^replyd"))).to_be_visible()
    await expect(page.get_by_text("/api/ai/generate-reply").first).to_be_attached()
    assert elsewhere == []
    await page.context.close()


PAGES = ["conversations", "conversation", "assistants", "assistant", "usage"]


async def test_screenshots_of_every_page_at_laptop_and_phone_widths(
    make_tenant: Callable[..., Any],
    new_page: Callable[..., Any],
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    hours_webhook: str,
    screenshots: Path,
) -> None:
    demo = await make_demo_account(make_tenant, stub_model, db, hours_webhook)
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page: Page = await new_page(viewport=viewport)
        await page.goto("/console/sign-in")
        await page.screenshot(path=screenshots / f"sign-in-{size}.png")
        await browser_sign_in(page, demo.tenant.token)
        paths = {
            "conversations": "/console/conversations",
            "conversation": f"/console/conversations/{demo.featured_conversation}",
            "assistants": "/console/assistants",
            "assistant": f"/console/assistants/{demo.tenant.assistant_id}?chat={demo.test_chat}",
            "usage": "/console/usage",
        }
        for name in PAGES:
            await page.goto(paths[name])
            if name in ("conversations", "conversation"):
                await wait_until_live(page)
            if name == "conversation":
                await page.locator(".function-call summary").first.click()
                await page.evaluate("window.scrollTo(0, 0)")  # the pane's head, its way back to the list
            await page.screenshot(path=screenshots / f"{name}-{size}.png")
        await page.context.close()
    written = sorted(p.name for p in screenshots.glob("*.png"))
    expected = sorted(f"{name}-{size}.png" for name in ["sign-in", *PAGES] for size in ("laptop", "phone"))
    assert set(expected) <= set(written)
