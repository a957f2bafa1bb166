"""The Channels page: it lists the account's channels with their inbound URL, adds one from the
form (the platform's secret shown once, the credentials never again), shows a wrong credential
beside its field, removes only with the form's CSRF token, and another account's channel is a
404. In the browser: a Telegram channel is added through the form, and a conversation on an SMS
channel shows what became of each message sent (their screenshots taken)."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.channels import test_twilio as twilio
from tests.channels.test_channel_api import BOT_TOKEN, add
from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, Console, browser_sign_in
from tests.servers import StubModel, TwilioApi, eventually


async def listed(tenant: Tenant) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await tenant.client.get("/api/channels")).json()["data"]
    return data


async def test_a_telegram_channel_is_added_from_the_form_and_its_secret_shown_once(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    form = {"assistant_id": str(tenant.assistant_id), "kind": "telegram", "telegram.bot_token": BOT_TOKEN}
    page = await console.post("/console/channels", form)
    assert page.status_code == 200, page.text
    [channel] = await listed(tenant)
    secret = re.search(r'id="new-secret">([^<]+)<', page.text)
    assert secret and len(secret.group(1)) >= 40
    assert f"/channels/{channel['id']}/telegram</code>" in page.text
    again = await console.client.get("/console/channels")
    assert secret.group(1) not in again.text and BOT_TOKEN not in again.text
    assert f'id="channel-{channel["id"]}"' in again.text


async def test_a_wrong_credential_is_shown_beside_its_field_and_nothing_is_added(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    form = {"assistant_id": str(tenant.assistant_id), "kind": "twilio", "twilio.account_sid": "nope"}
    page = await console.post("/console/channels", form)
    assert page.status_code == 422
    assert 'id="error-twilio-account_sid"' in page.text and 'id="error-twilio-auth_token"' in page.text
    assert await listed(tenant) == []


async def test_a_channel_is_removed_with_the_csrf_token_only_and_not_another_accounts(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    channel_id = (await add(theirs, "telegram")).json()["channel"]["id"]
    console: Console = await open_console(mine)
    assert (await console.post(f"/console/channels/{channel_id}/remove")).status_code == 404
    forged = await console.client.post(f"/console/channels/{channel_id}/remove", data={})
    assert forged.status_code == 403
    assert len(await listed(theirs)) == 1
    mine_id = (await add(mine, "telegram")).json()["channel"]["id"]
    removed = await console.post(f"/console/channels/{mine_id}/remove")
    assert (removed.status_code, removed.headers["location"]) == (303, "/console/channels?removed=1")
    assert await listed(mine) == []


async def test_a_channel_is_added_in_the_browser(
    tenant: Tenant, new_page: Callable[..., Any], screenshots: Path
) -> None:
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.goto("/console/channels")
    await page.get_by_label("Telegram", exact=True).check()
    await page.get_by_label("Telegram: bot token").fill(BOT_TOKEN)
    await page.get_by_role("button", name="Add channel").click()
    await expect(page.get_by_role("heading", name=re.compile("Channel added"))).to_be_visible()
    await expect(page.locator("#new-secret")).to_have_text(re.compile(r"^[A-Za-z0-9_-]{40,}$"))
    await page.screenshot(path=screenshots / "channels-laptop.png")
    assert len(await listed(tenant)) == 1


async def test_a_conversation_on_a_channel_shows_what_became_of_each_message_sent(
    tenant: Tenant, stub_model: StubModel, twilio_api: TwilioApi, new_page: Callable[..., Any], screenshots: Path
) -> None:
    channel_id, account, number = await twilio.connect(tenant)
    stub_model.enqueue("Yes: it arrives tomorrow.")
    form = twilio.sms(account, number, "+14155550142")
    assert (await twilio.post(tenant, f"/channels/{channel_id}/twilio", form)).status_code == 200
    await eventually(lambda: statuses_are(tenant, ["delivered"]))
    twilio_api.errors.append((400, 21610))
    [listed] = (await tenant.client.get("/api/user/conversations")).json()["data"]
    path = f"/api/conversations/{listed['id']}/agent-messages"
    assert (await tenant.client.post(path, json={"message": "Anna here: anything else?"})).status_code == 200
    await eventually(lambda: statuses_are(tenant, ["delivered", "failed"]))

    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.goto(f"/console/conversations/{listed['id']}")
    delivered, failed = page.locator("[data-delivery=delivered]"), page.locator("[data-delivery=failed]")
    await expect(delivered).to_contain_text("Delivered")
    await expect(failed).to_contain_text("Not delivered")
    await expect(failed).to_contain_text("the customer has unsubscribed (replied STOP)")
    await expect(page.locator(".message-ai [data-delivery]")).to_have_count(1)
    await expect(page.locator(".message-agent [data-delivery]")).to_have_count(1)
    await expect(page.locator(".message-customer [data-delivery]")).to_have_count(0)
    await page.screenshot(path=screenshots / "channel-conversation-laptop.png", full_page=True)


async def statuses_are(tenant: Tenant, expected: list[str]) -> bool:
    """Whether the messages sent on the tenant's one conversation's channel are now as ``expected``."""
    sent = [m["delivery"] for m in await twilio.history(tenant) if m["delivery"] is not None]
    return [delivery["status"] for delivery in sent] == expected
