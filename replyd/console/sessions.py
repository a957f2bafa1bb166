"""Console sign-in: an admin API token, pasted once, opens a session. The browser keeps only
a random session id, in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS); the token
itself is never stored, and revoking it ends every session it opened."""

from typing import Annotated

from fastapi import Depends, Request, Response

from replyd.app_state import State
from replyd.console.web import AdminsOnly, SignInRequired
from replyd.services.operators import SESSION_LIFETIME, Operator

COOKIE = "replyd_console"
COOKIE_PATH = "/console"


async def current_operator(request: Request, state: State) -> Operator:
    operator = await state.operators.find(request.cookies.get(COOKIE, ""))
    if operator is None:
        raise SignInRequired()
    request.state.token_id = operator.token_id  # for the request's log line
    return operator


SignedIn = Annotated[Operator, Depends(current_operator)]


async def current_admin(operator: SignedIn) -> Operator:
    """The signed-in operator, if an admin: the account's settings pages are theirs alone."""
    if not operator.is_admin:
        raise AdminsOnly()
    return operator


AdminSignedIn = Annotated[Operator, Depends(current_admin)]


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=is_https(request), httponly=True, samesite="strict")
