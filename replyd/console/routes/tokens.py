"""API tokens: the account's list (never the tokens themselves), creating one (shown once),
revoking one. Through the AccountService, as the API's and the command line's; another
account's token is a 404, and the account's last admin token stays."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.csrf import CheckedForm, problems_by_field
from replyd.console.sessions import AdminSignedIn
from replyd.console.web import ConsoleRoute, render_page
from replyd.errors import ValidationFailed
from replyd.services import Services
from replyd.services.accounts import SCOPES, NewToken
from replyd.services.operators import Operator
from replyd.services.views import MAX_ID

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
FORM_FIELDS = ("scope", "name", "rate_limit")


@router.get("/console/tokens")
async def token_list(request: Request, state: State, operator: AdminSignedIn, revoked: str = "") -> Response:
    return await _list_page(request, state, operator, revoked=bool(revoked))


@router.post("/console/tokens")
async def create_token(request: Request, state: State, operator: AdminSignedIn, form: CheckedForm) -> Response:
    """Answers with the page itself: the new token is shown on it once (a redirect would carry
    it in the address)."""
    scope, name, rate_limit = form.text("scope"), form.text("name"), form.text("rate_limit").strip() or None
    try:
        added = await state.accounts.create_token(operator.account_id, scope, rate_limit, name)
    except ValidationFailed as failed:
        errors = problems_by_field(failed.problems, FORM_FIELDS)
        sent = {"scope": scope, "name": name, "rate_limit": rate_limit or ""}
        return await _list_page(request, state, operator, form=sent, errors=errors, status=422)
    return await _list_page(request, state, operator, added=added)


@router.post("/console/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, state: State, operator: AdminSignedIn, _: CheckedForm, token_id: Id
) -> Response:
    try:
        await state.accounts.revoke_token(token_id, operator.account_id)
    except ValidationFailed as failed:
        refused = f"Token {token_id} {failed.problems[0].message}."
        return await _list_page(request, state, operator, refused=refused, status=422)
    return RedirectResponse("/console/tokens?revoked=1", 303)


async def _list_page(
    request: Request,
    state: Services,
    operator: Operator,
    *,
    added: NewToken | None = None,
    revoked: bool = False,
    refused: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "active": "tokens",
        "tokens": await state.accounts.tokens(operator.account_id),
        "scopes": SCOPES,
        "added": added,
        "revoked": revoked,
        "refused": refused,
        "form": form or {"scope": "replies", "name": "", "rate_limit": ""},
        "errors": errors or {},
    }
    return await render_page(request, state, operator, "tokens.html", context, status)
