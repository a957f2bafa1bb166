"""axe-core (bundled by axe-playwright-python, so nothing is fetched) finds no serious or
critical violation on any console page, at laptop and phone widths, light and dark, with the
demo account's data on them."""

from collections.abc import Callable
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.console.conftest import LAPTOP, PHONE, browser_sign_in
from tests.console.demo import make_demo_account
from tests.servers import StubModel

SERIOUS = {"serious", "critical"}


async def test_no_page_has_a_serious_accessibility_violation(
    make_tenant: Callable[..., Any],
    new_page: Callable[..., Any],
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
    hours_webhook: str,
) -> None:
    demo = await make_demo_account(make_tenant, stub_model, db, hours_webhook)
    paths = [
        "/console/conversations",
        f"/console/conversations/{demo.featured_conversation}",
        "/console/assistants",
        f"/console/assistants/{demo.tenant.assistant_id}?chat={demo.test_chat}",
        "/console/usage",
        "/console/webhooks",
        "/console/channels",
        "/console/tokens",
    ]
    axe, found = Axe(), []
    for viewport in (LAPTOP, PHONE):
        page: Page = await new_page(viewport=viewport)
        await browser_sign_in(page, demo.tenant.token)
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            for path in paths:
                await page.goto(path)
                violations = (await axe.run(page)).response["violations"]
                found += [
                    f"{path} ({viewport['width']} px, {scheme}): {v['id']} on {[n['target'] for n in v['nodes']][:3]}"
                    for v in violations
                    if v["impact"] in SERIOUS
                ]
        await page.context.close()
    assert found == []
