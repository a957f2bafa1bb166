"""Signing in with an admin API token, and signing out."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.csrf import (
    SIGN_IN_COOKIE,
    CheckedForm,
    CheckedSignInForm,
    set_sign_in_cookie,
    sign_in_token,
)
from replyd.console.sessions import COOKIE, COOKIE_PATH, SignedIn, clear_session_cookie, set_session_cookie
from replyd.console.web import ConsoleRoute, render
from replyd.errors import Forbidden, Unauthenticated

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

HOME = "/console/conversations"


def safe_next(target: str) -> str:
    """Only a console page of this site: never another host (no open redirect)."""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


@router.get("/console")
async def home() -> Response:
    return RedirectResponse(HOME, 303)


@router.get("/console/sign-in")
async def sign_in_page(request: Request, state: State, next: str = "") -> Response:
    if await state.operators.find(request.cookies.get(COOKIE, "")) is not None:
        return RedirectResponse(safe_next(next), 303)
    return _sign_in_form(request, safe_next(next), None, 200)


def _sign_in_form(request: Request, next: str, error: str | None, status: int) -> Response:
    token = sign_in_token(request)
    context = {"operator": None, "csrf_token": token, "next": next, "error": error}
    response = render(request, "sign_in.html", context, status)
    set_sign_in_cookie(response, request, token)
    return response


@router.post("/console/sign-in")
async def sign_in_post(request: Request, state: State, form: CheckedSignInForm) -> Response:
    target = safe_next(form.text("next"))
    try:
        operator = await state.operators.sign_in(form.text("token"))
    except (Unauthenticated, Forbidden) as refused:
        return _sign_in_form(request, target, refused.message, refused.status)
    response = RedirectResponse(target, 303)
    set_session_cookie(response, request, operator.session_id)
    response.delete_cookie(SIGN_IN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.post("/console/sign-out")
async def sign_out_post(request: Request, state: State, operator: SignedIn, _: CheckedForm) -> Response:
    await state.operators.sign_out(operator.session_id)
    response = RedirectResponse("/console/sign-in", 303)
    clear_session_cookie(response, request)
    return response
