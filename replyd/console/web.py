"""What every console page shares: the templates, rendering, security headers, and the
route class that turns the console's refusals into HTML answers (the API's error handlers
answer JSON, which a browser should not be shown)."""

import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from replyd import __version__
from replyd.errors import NotFound
from replyd.money import format_micros
from replyd.services import Services
from replyd.services.operators import Operator

HERE = Path(__file__).parent
STATIC_PATH = "/console/static"
FRAGMENT_HEADER = "x-console-fragment"
"""Sent by the page's script when it fetches a fragment: it wants a status, not a redirect."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """No valid console session: pages redirect to the sign-in form, fragments answer 401."""


class CsrfRefused(Exception):
    """A form post without the session's CSRF token, or with a wrong one."""


class BadForm(Exception):
    """A form that cannot be read at all (too large, of unknown length, with a file or a NUL)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _when(value: datetime | None) -> Markup:
    """Every time the console shows, in one form: a ``<time>`` with the exact time in UTC, which
    the page's script turns into a relative time ("5 minutes ago") in the reader's language,
    the exact local time on hover."""
    if value is None:
        return Markup("")
    exact = value.strftime("%Y-%m-%d %H:%M UTC")
    return Markup(f'<time datetime="{value.isoformat()}" title="{exact}">{exact}</time>')


def _pretty_json(value: Any) -> str:
    """A function call's arguments or result, indented; text that is not JSON stays as it is."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters["money"] = format_micros
    env.filters["when"] = _when
    env.filters["pretty_json"] = _pretty_json
    env.globals["static_url"] = lambda name: Markup(f"{STATIC_PATH}/{name}?v={__version__}")
    env.globals["version"] = __version__
    return env


templates = _environment()
"""Built once at import, like the routers: templates are files of the package, not settings."""


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A page (or a fragment: any template) rendered with ``context``."""
    html = templates.get_template(name).render({"request": request, **context})
    return HTMLResponse(html, status_code=status)


async def render_page(
    request: Request, state: Services, operator: Operator, name: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """A signed-in page, whose navigation shows how many conversations wait for a human (also
    with JavaScript off, so it is counted for every page)."""
    waiting = await state.conversations.count_needing_a_human(operator.account_id)
    return render(request, name, {"operator": operator, "needs_human_count": waiting, **context}, status)


def wants_fragment(request: Request) -> bool:
    return request.headers.get(FRAGMENT_HEADER) == "1"


def sign_in_redirect(request: Request) -> RedirectResponse:
    """To the sign-in form, which sends the browser back to the page it asked for (a post
    cannot be repeated by a redirect, so after one it goes to the start page)."""
    if request.method != "GET" or not request.url.path.startswith("/console/"):
        return RedirectResponse("/console/sign-in", 303)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/console/sign-in?" + urlencode({"next": target}, safe="/"), 303)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    if wants_fragment(request):
        return PlainTextResponse(message, status_code=status)
    return render(request, "error.html", {"title": title, "message": message, "operator": None}, status)


class AdminsOnly(Exception):
    """An operator (not an admin) asked for one of the account's settings pages."""


class ConsoleRoute(APIRoute):
    """Answers the console's refusals as pages, and puts security headers on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_as_page(request: Request) -> Response:
            try:
                response = await handle(request)
            except SignInRequired:
                if wants_fragment(request) or request.url.path == "/console/events":
                    response = PlainTextResponse("Sign in again.", status_code=401)
                else:
                    response = sign_in_redirect(request)
            except CsrfRefused:
                response = error_page(
                    request,
                    403,
                    "Form refused",
                    "This form was not sent from a page of this console session (its CSRF token is missing or "
                    "wrong). Reload the page and try again.",
                )
            except (NotFound, RequestValidationError):
                response = error_page(request, 404, "Not found", "There is nothing here, or it is not yours to see.")
            except BadForm as exc:
                response = error_page(request, exc.status, "Form refused", exc.message)
            except AdminsOnly:
                response = error_page(
                    request,
                    403,
                    "For the account's admins",
                    "This page is for the account's admins. An operator's sign-in opens the conversations.",
                )
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return handle_as_page
