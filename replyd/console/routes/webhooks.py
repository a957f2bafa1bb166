"""Event endpoints: the account's list (a disabled one says why), adding one (its secret shown
once), removing one; an endpoint's deliveries, and replaying one. Every read and write goes
through the WebhookService, as the API's and the command line's do; another account's
endpoint or delivery is a 404."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.csrf import CheckedForm, problems_by_field
from replyd.console.sessions import AdminSignedIn
from replyd.console.web import ConsoleRoute, render_page
from replyd.errors import NotFound, ValidationFailed
from replyd.events.types import EVENT_TYPES
from replyd.services import Services
from replyd.services.operators import Operator
from replyd.services.views import MAX_ID
from replyd.services.webhooks import EndpointView, NewEndpoint

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
FORM_FIELDS = ("url", "events")
TYPE_FIELD = "event:"
"""Each event type's checkbox is named ``event:<type>``: a posted form keeps one value per name."""
DELIVERIES_SHOWN = 50


@router.get("/console/webhooks")
async def endpoint_list(
    request: Request, state: State, operator: AdminSignedIn, removed: str = "", enabled: str = ""
) -> Response:
    return await _list_page(request, state, operator, removed=bool(removed), enabled=bool(enabled))


@router.post("/console/webhooks")
async def add_endpoint(request: Request, state: State, operator: AdminSignedIn, form: CheckedForm) -> Response:
    """Answers with the page itself, not a redirect: the new secret is shown on it once, and
    a redirect would have to carry it in the address (and so into history and logs)."""
    url = form.text("url").strip()
    event_types = [t for t in EVENT_TYPES if form.has(TYPE_FIELD + t)]
    try:
        added = await state.webhooks.add(operator.account_id, url, event_types)
    except ValidationFailed as failed:
        errors = problems_by_field(failed.problems, FORM_FIELDS)
        return await _list_page(request, state, operator, url=url, checked=event_types, errors=errors, status=422)
    return await _list_page(request, state, operator, added=added)


@router.post("/console/webhooks/{endpoint_id}/remove")
async def remove_endpoint(state: State, operator: AdminSignedIn, _: CheckedForm, endpoint_id: Id) -> Response:
    if not await state.webhooks.remove(operator.account_id, endpoint_id):
        raise NotFound(f"There is no endpoint {endpoint_id}.")
    return RedirectResponse("/console/webhooks?removed=1", 303)


@router.post("/console/webhooks/{endpoint_id}/enable")
async def enable_endpoint(state: State, operator: AdminSignedIn, _: CheckedForm, endpoint_id: Id) -> Response:
    await state.webhooks.enable(operator.account_id, endpoint_id)
    return RedirectResponse("/console/webhooks?enabled=1", 303)


@router.get("/console/webhooks/{endpoint_id}/deliveries")
async def delivery_list(
    request: Request, state: State, operator: AdminSignedIn, endpoint_id: Id, replayed: str = ""
) -> Response:
    endpoint = await _own_endpoint(state, operator, endpoint_id)
    context = {
        "active": "webhooks",
        "endpoint": endpoint,
        "deliveries": await state.webhooks.deliveries(operator.account_id, endpoint_id, DELIVERIES_SHOWN),
        "replayed": bool(replayed),
    }
    return await render_page(request, state, operator, "webhook_deliveries.html", context)


@router.post("/console/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
async def replay_delivery(
    state: State, operator: AdminSignedIn, _: CheckedForm, endpoint_id: Id, delivery_id: Id
) -> Response:
    await _own_endpoint(state, operator, endpoint_id)
    await state.webhooks.replay(operator.account_id, delivery_id)
    return RedirectResponse(f"/console/webhooks/{endpoint_id}/deliveries?replayed=1", 303)


async def _own_endpoint(state: Services, operator: Operator, endpoint_id: int) -> EndpointView:
    """One of the account's endpoints (an account has at most 20, so the list is read whole)."""
    for endpoint in await state.webhooks.endpoints(operator.account_id):
        if endpoint.id == endpoint_id:
            return endpoint
    raise NotFound(f"There is no endpoint {endpoint_id}.")


async def _list_page(
    request: Request,
    state: Services,
    operator: Operator,
    *,
    added: NewEndpoint | None = None,
    removed: bool = False,
    enabled: bool = False,
    url: str = "",
    checked: list[str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    """The list and the add form; ``url``, ``checked`` and ``errors`` refill a refused form."""
    context: dict[str, Any] = {
        "active": "webhooks",
        "endpoints": await state.webhooks.endpoints(operator.account_id),
        "added": added,
        "removed": removed,
        "enabled": enabled,
        "event_types": EVENT_TYPES,
        "type_field": TYPE_FIELD,
        "url": url,
        "checked": checked or [],
        "errors": errors or {},
    }
    return await render_page(request, state, operator, "webhooks.html", context, status)
