"""What routes need, named once as ``Annotated`` aliases so a signature lists its needs."""

from typing import Annotated

from fastapi import Depends, Request

from replyd.api.state import AppState
from replyd.errors import RateLimited, Unauthenticated
from replyd.store.accounts import find_active_token
from replyd.store.tables import ApiToken

RATE_LIMIT_HEADERS = "rate_limit_headers"
"""Key in ``request.state`` under which the rate limiter leaves the X-RateLimit-* headers."""


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.replyd
    return state


State = Annotated[AppState, Depends(get_state)]


async def authenticate(request: Request, state: State) -> ApiToken:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Send your API token in the header Authorization: Bearer <token>.")
    async with state.sessions() as session:
        token = await find_active_token(session, secret.strip())
    if token is None:
        raise Unauthenticated("The API token is unknown or revoked; create one with `replyd tokens create`.")
    return token


CurrentToken = Annotated[ApiToken, Depends(authenticate)]


async def limit_replies(request: Request, token: CurrentToken, state: State) -> ApiToken:
    """Count this call against the token's reply limit; the headers go on every answer."""
    decision = await state.limiter.hit(f"reply:{token.id}", token.rate_limit or state.settings.rate_limit)
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
        raise RateLimited(decision.retry_after_s)
    return token


RateLimitedToken = Annotated[ApiToken, Depends(limit_replies)]
