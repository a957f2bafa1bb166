"""The account's API tokens, managed by its admins: list (never the secrets), create one (shown
once), revoke one. The operator's command line does the same for any account."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from replyd import errors
from replyd.api.deps import AdminToken, body_of
from replyd.api.openapi import BODY_ERRORS, error_responses, json_body
from replyd.api.token_schemas import NewTokenOut, RevokedTokenOut, TokenData, TokenIn, TokenListOut
from replyd.app_state import State
from replyd.services.views import MAX_ID

router = APIRouter(tags=["tokens"])

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
ADMIN = (errors.Unauthenticated, errors.Forbidden)


@router.get("/api/tokens", summary="The account's API tokens, revoked ones too", responses=error_responses(*ADMIN))
async def list_tokens(token: AdminToken, state: State) -> TokenListOut:
    return TokenListOut(data=[TokenData.of(t) for t in await state.accounts.tokens(token.account_id)])


@router.post(
    "/api/tokens",
    summary="Create an API token (shown once)",
    openapi_extra=json_body(TokenIn),
    responses=error_responses(*BODY_ERRORS, *ADMIN),
)
async def create_token(
    token: AdminToken, state: State, body: Annotated[TokenIn, Depends(body_of(TokenIn))]
) -> NewTokenOut:
    new = await state.accounts.create_token(token.account_id, body.scope, body.rate_limit, body.name)
    return NewTokenOut(token_id=new.token_id, scope=new.scope, api_token=new.secret)


@router.delete(
    "/api/tokens/{token_id}",
    summary="Revoke an API token",
    description="Requests with it get 401 from then on. The account's last admin token cannot be revoked here.",
    responses=error_responses(*ADMIN, errors.NotFound, errors.ValidationFailed),
)
async def revoke_token(token_id: Id, token: AdminToken, state: State) -> RevokedTokenOut:
    await state.accounts.revoke_token(token_id, token.account_id)
    return RevokedTokenOut(token_id=token_id, revoked=True)
