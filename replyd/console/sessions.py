"""Console sign-in: an admin API token, pasted once, opens a session. The browser keeps only
a random session id, in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS); the token
itself is never stored, and revoking it ends every session it opened."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from replyd.api.deps import State
from replyd.api.state import AppState
from replyd.console.web import SignInRequired
from replyd.store.accounts import find_active_token
from replyd.store.console_sessions import create_console_session, end_console_session, find_console_session

COOKIE = "replyd_console"
COOKIE_PATH = "/console"
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Operator:
    """Who is signed in: the account whose data the pages show, and the session's secrets."""

    account_id: int
    token_id: int
    csrf_token: str
    session_id: str


class SignInRefused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def sign_in(state: AppState, secret: str) -> tuple[str, Operator]:
    """Open a session with an admin token; ``SignInRefused`` says why not."""
    secret = secret.strip()
    if not secret or len(secret) > 200 or "\x00" in secret:
        raise SignInRefused("Paste an API token: it starts with rpd_.", 401)
    async with state.sessions() as session, session.begin():
        token = await find_active_token(session, secret)
        if token is None:
            raise SignInRefused("That token is unknown or revoked.", 401)
        if token.scope != "admin":
            raise SignInRefused(
                "That is a replies token, which may only generate replies. Sign in with an admin token.", 403
            )
        new = await create_console_session(session, token, SESSION_LIFETIME)
    return new.session_id, Operator(token.account_id, token.id, new.session.csrf_secret, new.session_id)


async def sign_out(state: AppState, session_id: str) -> None:
    async with state.sessions() as session, session.begin():
        await end_console_session(session, session_id)


async def find_operator(state: AppState, session_id: str) -> Operator | None:
    async with state.sessions() as session:
        row = await find_console_session(session, session_id)
    return None if row is None else Operator(row.account_id, row.token_id, row.csrf_secret, session_id)


async def current_operator(request: Request, state: State) -> Operator:
    operator = await find_operator(state, request.cookies.get(COOKIE, ""))
    if operator is None:
        raise SignInRequired()
    request.state.token_id = operator.token_id  # for the request's log line
    return operator


SignedIn = Annotated[Operator, Depends(current_operator)]


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
