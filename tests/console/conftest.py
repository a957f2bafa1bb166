"""Fixtures for the operator console: an httpx client that signs in like a browser (cookies
and CSRF tokens), and headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright
against the live test server."""

import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import Tenant, service_missing
from tests.servers import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
"""Where the README's screenshots live; rewritten only when REPLYD_UPDATE_SCREENSHOTS=1."""
WAIT_MS = 15_000
"""How long a browser assertion may wait for the page to show something (it polls; it does not sleep)."""

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Console:
    """A signed-in browser session, minus the browser: cookies and the page's CSRF token."""

    client: httpx.AsyncClient
    csrf: str

    async def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


async def sign_in(client: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    page = await client.get("/console/sign-in", headers=headers)
    return await client.post(
        "/console/sign-in", data={"token": token, "csrf_token": csrf_token(page.text)}, headers=headers
    )


@pytest.fixture
async def open_console(server: str) -> AsyncIterator[Callable[..., Any]]:
    """``await open_console(tenant)``: a Console signed in with the tenant's admin token."""
    clients: list[httpx.AsyncClient] = []

    async def open(tenant: Tenant) -> Console:
        client = httpx.AsyncClient(base_url=server, timeout=30)
        clients.append(client)
        signed_in = await sign_in(client, tenant.token)
        assert signed_in.status_code == 303, signed_in.text
        page = await client.get("/console/conversations")
        return Console(client, csrf_token(page.text))

    yield open
    for client in clients:
        await client.aclose()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshot test writes: a temporary directory, so a test run leaves the
    checkout as it was; docs/console/ when REPLYD_UPDATE_SCREENSHOTS=1 asks for new ones."""
    if os.environ.get("REPLYD_UPDATE_SCREENSHOTS") == "1":
        return DOCS_SCREENSHOTS
    return tmp_path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        service_missing(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
def new_page(browser: Browser, server: str) -> Callable[..., Any]:
    """``await new_page(viewport=LAPTOP, javascript=True)``: a page in a fresh browser context."""

    async def make(viewport: dict[str, int] = LAPTOP, javascript: bool = True) -> Page:
        context = await browser.new_context(
            base_url=server, viewport=viewport, java_script_enabled=javascript, locale="en-GB", timezone_id="UTC"
        )
        context.set_default_timeout(WAIT_MS)
        return await context.new_page()

    return make


async def browser_sign_in(page: Page, token: str) -> None:
    await page.goto("/console/sign-in")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/console/conversations")


async def _opening_hours(request: Request) -> Response:
    day = (await request.json())["arguments"].get("day", "today")
    return JSONResponse({"day": day, "open": "09:00", "close": "14:00" if day == "Saturday" else "18:00"})


@pytest.fixture(scope="session")
def hours_webhook() -> Iterator[str]:
    """A function's receiving end for the demo data: answers a day's opening hours."""
    with serve_in_thread(Starlette(routes=[Route("/hours", _opening_hours, methods=["POST"])])) as url:
        yield url + "/hours"
