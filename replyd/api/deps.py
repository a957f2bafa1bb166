"""What routes need, named once as ``Annotated`` aliases so a signature lists its needs."""

import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from replyd.api.validation import read_json_object, validate_model
from replyd.app_state import State
from replyd.engine.reply import OPERATOR_TOKEN, UNKNOWN_TOKEN
from replyd.engine.settings_cache import Caller
from replyd.errors import Forbidden, ServiceUnavailable, Unauthenticated
from replyd.limits import RateDecision
from replyd.services import Services
from replyd.services.accounts import TokenView

RATE_LIMIT_HEADERS = "rate_limit_headers"
"""Key in ``request.state`` under which the rate limiter leaves the X-RateLimit-* headers."""

M = TypeVar("M", bound=BaseModel)


def bearer_secret(request: Request) -> str:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Send your API token in the header Authorization: Bearer <token>.")
    return secret.strip()


async def authenticate(request: Request, state: State) -> TokenView:
    """The request's token. Its answer carries the token's X-RateLimit-* headers as they
    stand (a route that counts the call against the limit sets them again, counted)."""
    token = await state.accounts.active_token(bearer_secret(request))
    if token is None:
        raise Unauthenticated(UNKNOWN_TOKEN)
    if token.scope == "operator":
        raise Forbidden(OPERATOR_TOKEN)
    request.state.token_id = token.id  # for the request's log line
    with contextlib.suppress(ServiceUnavailable):  # reads go on while Redis is away, without the headers
        set_rate_limit_headers(request, await state.reply_limits.peek(token.id, token.rate_limit))
    return token


CurrentToken = Annotated[TokenView, Depends(authenticate)]


async def limit_replies(request: Request, token: CurrentToken, state: State) -> TokenView:
    """Count this call against the token's reply limit; the headers go on every answer."""
    await count_reply(request, state, token.id, token.rate_limit)
    return token


RateLimitedToken = Annotated[TokenView, Depends(limit_replies)]


async def reply_caller(request: Request, state: State) -> Caller:
    """generate-reply's caller: the token comes from the reply engine's cache, which the reply's
    first transaction checks against the account's settings version."""
    caller = await state.replies.authenticate(bearer_secret(request))
    assert caller.token is not None
    request.state.token_id = caller.token.id
    await count_reply(request, state, caller.token.id, caller.token.rate_limit)
    return caller


ReplyCaller = Annotated[Caller, Depends(reply_caller)]


async def count_reply(request: Request, state: Services, token_id: int, rate_limit: str | None) -> None:
    """A refusal (``RateLimited``) carries its own headers; an allowed call leaves them here."""
    set_rate_limit_headers(request, await state.reply_limits.count(token_id, rate_limit))


def set_rate_limit_headers(request: Request, decision: RateDecision) -> None:
    """Leave the headers for ``api/middleware.py``, which puts them on whatever answer follows."""
    setattr(request.state, RATE_LIMIT_HEADERS, decision.headers)


async def require_admin(token: CurrentToken) -> TokenView:
    if token.scope != "admin":
        raise Forbidden("This token may only generate replies and read conversations; use an admin token.")
    return token


AdminToken = Annotated[TokenView, Depends(require_admin)]


def body_of(model: type[M]) -> Callable[[Request, Services], Awaitable[M]]:
    """A dependency reading the body as ``model``: declared after the token, it runs after
    authentication, and a broken body answers in replyd's envelope (400 or 422)."""

    async def parse(request: Request, state: State) -> M:
        data = await read_json_object(request, state.settings.max_body_bytes)
        return validate_model(model, data, {"max_message_chars": state.settings.max_message_chars})

    return parse
