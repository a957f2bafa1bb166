"""The Tokens page: it lists the account's tokens (never whole), creates one from the form (shown
once, working at once), shows a bad rate limit beside its field with nothing created, revokes
only with the form's CSRF token and never another account's token nor the last admin token;
revoking the session's own token ends the session. In the browser: a token is created and
revoked from the page."""

import re
from collections.abc import Callable
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.api.test_tokens import listed
from tests.conftest import Tenant
from tests.console.conftest import LAPTOP, Console, browser_sign_in


async def test_a_token_is_created_from_the_form_shown_once_and_works(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    page = await console.post("/console/tokens", {"scope": "replies", "rate_limit": "30/minute"})
    assert page.status_code == 200, page.text
    secret = re.search(r'id="new-token">(rpd_[^<]+)<', page.text)
    assert secret is not None
    headers = {"Authorization": f"Bearer {secret.group(1)}"}
    async with httpx.AsyncClient(base_url=tenant.client.base_url, headers=headers) as client:
        assert (await client.get("/api/user/conversations")).status_code == 200
    again = await console.client.get("/console/tokens")
    assert secret.group(1) not in again.text and secret.group(1)[:12] in again.text


async def test_a_bad_rate_limit_is_shown_beside_its_field_and_nothing_is_created(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    page = await console.post("/console/tokens", {"scope": "replies", "rate_limit": "lots"})
    assert page.status_code == 422
    assert 'id="error-rate_limit"' in page.text and 'aria-invalid="true"' in page.text
    assert len(await listed(tenant)) == 1


async def test_revoking_needs_the_csrf_token_and_spares_other_accounts_and_the_last_admin_token(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    console: Console = await open_console(mine)
    assert (await console.post(f"/console/tokens/{theirs.token_id}/revoke")).status_code == 404
    forged = await console.client.post(f"/console/tokens/{mine.token_id}/revoke", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    last = await console.post(f"/console/tokens/{mine.token_id}/revoke")
    assert last.status_code == 422 and "last admin token" in last.text
    assert [t["revoked_at"] for t in await listed(mine) + await listed(theirs)] == [None, None]


async def test_revoking_the_sessions_own_token_ends_the_session(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    assert (await tenant.client.post("/api/tokens", json={"scope": "admin"})).status_code == 200  # not the last
    console: Console = await open_console(tenant)
    revoked = await console.post(f"/console/tokens/{tenant.token_id}/revoke")
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/console/tokens?revoked=1")
    after = await console.client.get("/console/tokens")
    assert after.status_code == 303 and after.headers["location"].startswith("/console/sign-in")


async def test_a_token_is_created_and_revoked_in_the_browser(tenant: Tenant, new_page: Callable[..., Any]) -> None:
    page: Page = await new_page(viewport=LAPTOP)
    await browser_sign_in(page, tenant.token)
    await page.get_by_role("link", name="Tokens").click()
    await page.get_by_label("replies").check()
    await page.get_by_label("Rate limit").fill("60/minute")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.locator("#new-token")).to_have_text(re.compile(r"^rpd_"))
    [new, _] = await listed(tenant)
    row = page.locator(f"#token-{new['id']}")
    await row.get_by_text("Revoke").first.click()
    await row.get_by_role("button", name="Revoke token").click()
    await expect(page.get_by_role("status")).to_have_text("Token revoked.")
    await expect(page.locator(f"#token-{new['id']}")).to_contain_text("revoked")
