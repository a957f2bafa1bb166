"""What routes need, named once as ``Annotated`` aliases so a signature lists its needs."""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from replyd.api.state import AppState
from replyd.api.validation import read_json_object, validate_model
from replyd.engine.reply import UNKNOWN_TOKEN
from replyd.engine.settings_cache import Caller
from replyd.errors import Forbidden, RateLimited, Unauthenticated
from replyd.store.accounts import find_active_token
from replyd.store.tables import ApiToken

RATE_LIMIT_HEADERS = "rate_limit_headers"
"""Key in ``request.state`` under which the rate limiter leaves the X-RateLimit-* headers."""
STATUS_ENVELOPE = "status_envelope"
"""Key in ``request.state`` that makes errors carry Famulor's ``"status": false`` too."""

M = TypeVar("M", bound=BaseModel)


async def get_state(request: Request) -> AppState:
    """``async``, so FastAPI calls it on the event loop instead of in a worker thread."""
    state: AppState = request.app.state.replyd
    return state


State = Annotated[AppState, Depends(get_state)]


def bearer_secret(request: Request) -> str:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Send your API token in the header Authorization: Bearer <token>.")
    return secret.strip()


async def authenticate(request: Request, state: State) -> ApiToken:
    async with state.sessions() as session:
        token = await find_active_token(session, bearer_secret(request))
    if token is None:
        raise Unauthenticated(UNKNOWN_TOKEN)
    request.state.token_id = token.id  # for the request's log line
    return token


CurrentToken = Annotated[ApiToken, Depends(authenticate)]


async def limit_replies(request: Request, token: CurrentToken, state: State) -> ApiToken:
    """Count this call against the token's reply limit; the headers go on every answer."""
    await count_reply(request, state, token.id, token.rate_limit)
    return token


RateLimitedToken = Annotated[ApiToken, Depends(limit_replies)]


async def reply_caller(request: Request, state: State) -> Caller:
    """generate-reply's caller: the token comes from the reply engine's cache, which the reply's
    first transaction checks against the account's settings version."""
    caller = await state.replies.authenticate(bearer_secret(request))
    assert caller.token is not None
    request.state.token_id = caller.token.id
    await count_reply(request, state, caller.token.id, caller.token.rate_limit)
    return caller


ReplyCaller = Annotated[Caller, Depends(reply_caller)]


async def count_reply(request: Request, state: AppState, token_id: int, rate_limit: str | None) -> None:
    decision = await state.limiter.hit(f"reply:{token_id}", rate_limit or state.settings.rate_limit)
    setattr(
        request.state,
        RATE_LIMIT_HEADERS,
        {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(decision.reset_at),
        },
    )
    if not decision.is_allowed:
        state.telemetry.rate_limited.inc()
        raise RateLimited(decision.retry_after_s)


async def require_admin(token: CurrentToken) -> ApiToken:
    if token.scope != "admin":
        raise Forbidden("This token may only generate replies and read conversations; use an admin token.")
    return token


AdminToken = Annotated[ApiToken, Depends(require_admin)]


def use_status_envelope(request: Request) -> None:
    """For Famulor's conversation endpoints, whose clients read ``status``."""
    setattr(request.state, STATUS_ENVELOPE, True)


def body_of(model: type[M]) -> Callable[[Request, AppState], Awaitable[M]]:
    """A dependency reading the body as ``model``: declared after the token, it runs after
    authentication, and a broken body answers in replyd's envelope (400 or 422)."""

    async def parse(request: Request, state: State) -> M:
        data = await read_json_object(request, state.settings.max_body_bytes)
        return validate_model(model, data, {"max_message_chars": state.settings.max_message_chars})

    return parse
