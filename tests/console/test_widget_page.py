"""The console's chat widget page: settings saved and checked, the snippet to paste, the
secret for signed identities, and the live preview following the form."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import Tenant
from tests.console.conftest import browser_sign_in

FORM = {
    "enabled": "on",
    "allowed_origins": "https://Shop.example.com/\nhttp://localhost:8080",
    "color": "#0f766e",
    "title": "Greenleaf Tea",
    "greeting": "Hi! Ask us about teas.",
    "position": "left",
    "language": "de",
    "string_send": "Los",
}


async def test_saved_settings_give_the_snippet_and_theme_the_widget(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console = await open_console(tenant)
    path = f"/console/assistants/{tenant.assistant_id}/widget"
    before = await console.client.get(path)
    assert "Save the settings to get the widget" in before.text

    saved = await console.post(path, FORM)
    page = await console.client.get(path)

    assert saved.status_code == 303
    key = re.search(r'data-key="(wk_[^"]+)"', page.text)
    assert key, page.text
    assert f'{console.client.base_url}/widget.js" data-key' in page.text.replace("&#34;", '"').replace("&quot;", '"')
    look = (
        await tenant.client.get(f"/widget/{key.group(1)}/settings", headers={"Origin": "https://shop.example.com"})
    ).json()
    assert look["widget"]["title"] == "Greenleaf Tea"
    assert look["widget"]["position"] == "left"
    assert look["widget"]["strings"]["send"] == "Los"
    assert look["widget"]["strings"]["close"] == "Chat schließen"


async def test_a_broken_origin_is_shown_beside_its_field_and_nothing_is_saved(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console = await open_console(tenant)
    path = f"/console/assistants/{tenant.assistant_id}/widget"

    refused = await console.post(path, FORM | {"allowed_origins": "shop.example.com/contact"})

    assert refused.status_code == 422
    assert 'id="error-allowed_origins"' in refused.text
    assert "is not an origin" in refused.text
    assert "shop.example.com/contact" in refused.text  # the operator's text is kept to fix
    assert "Save the settings to get the widget" in (await console.client.get(path)).text


async def test_the_preview_follows_the_form_as_it_is_edited(
    tenant: Tenant, new_page: Callable[..., Any], screenshots: Path
) -> None:
    page = await new_page()
    await browser_sign_in(page, tenant.token)
    await page.goto(f"/console/assistants/{tenant.assistant_id}/widget")
    preview = page.locator("#widget-preview")
    await expect(preview.get_by_role("heading", name="Chat with us")).to_be_visible()

    await page.get_by_label("Title").fill("Greenleaf Tea")
    await page.get_by_label("Language").select_option("de")

    await expect(preview.get_by_role("heading", name="Greenleaf Tea")).to_be_visible()
    await expect(preview.get_by_role("button", name="Senden")).to_be_visible()
    await page.screenshot(path=screenshots / "widget-settings-laptop.png", full_page=True)
