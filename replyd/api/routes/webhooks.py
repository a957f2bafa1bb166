"""The account's event endpoints: add one (its secret is shown once), list, remove; each
endpoint's deliveries, and replaying one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from replyd import errors
from replyd.api.deps import AdminToken, body_of
from replyd.api.openapi import BODY_ERRORS, error_responses, json_body
from replyd.api.webhook_schemas import (
    DeletedEndpointOut,
    DeliveryData,
    DeliveryListOut,
    EndpointData,
    EndpointIn,
    EndpointListOut,
    EndpointOut,
    NewEndpointOut,
    ReplayOut,
)
from replyd.app_state import State
from replyd.services.views import MAX_ID

router = APIRouter(tags=["webhooks"])

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
ADMIN = (errors.Unauthenticated, errors.Forbidden)


@router.post(
    "/api/webhooks",
    summary="Add an endpoint that receives the account's events",
    openapi_extra=json_body(EndpointIn),
    responses=error_responses(*BODY_ERRORS, *ADMIN),
)
async def add_endpoint(
    token: AdminToken, state: State, body: Annotated[EndpointIn, Depends(body_of(EndpointIn))]
) -> NewEndpointOut:
    new = await state.webhooks.add(token.account_id, body.url, body.events)
    return NewEndpointOut(endpoint=EndpointData.of(new.endpoint), secret=new.secret)


@router.get("/api/webhooks", summary="The account's event endpoints", responses=error_responses(*ADMIN))
async def list_endpoints(token: AdminToken, state: State) -> EndpointListOut:
    return EndpointListOut(data=[EndpointData.of(e) for e in await state.webhooks.endpoints(token.account_id)])


@router.delete(
    "/api/webhooks/{endpoint_id}",
    summary="Remove an endpoint (its pending deliveries with it)",
    description="Idempotent: an endpoint that is not in your account (removed already, or never) answers the same.",
    responses=error_responses(*ADMIN, errors.ValidationFailed),
)
async def remove_endpoint(endpoint_id: Id, token: AdminToken, state: State) -> DeletedEndpointOut:
    await state.webhooks.remove(token.account_id, endpoint_id)
    return DeletedEndpointOut(endpoint_id=endpoint_id)


@router.post(
    "/api/webhooks/{endpoint_id}/enable",
    summary="Turn a disabled endpoint back on",
    description="Its pending deliveries go out again, in order. Idempotent.",
    responses=error_responses(*ADMIN, errors.NotFound, errors.ValidationFailed),
)
async def enable_endpoint(endpoint_id: Id, token: AdminToken, state: State) -> EndpointOut:
    return EndpointOut(endpoint=EndpointData.of(await state.webhooks.enable(token.account_id, endpoint_id)))


@router.get(
    "/api/webhooks/{endpoint_id}/deliveries",
    summary="An endpoint's newest deliveries, each with its last attempt",
    responses=error_responses(*ADMIN, errors.NotFound, errors.ValidationFailed),
)
async def list_deliveries(
    endpoint_id: Id, token: AdminToken, state: State, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> DeliveryListOut:
    deliveries = await state.webhooks.deliveries(token.account_id, endpoint_id, limit)
    return DeliveryListOut(data=[DeliveryData.of(d) for d in deliveries])


@router.post(
    "/api/webhooks/deliveries/{delivery_id}/replay",
    summary="Send a delivery's event to its endpoint again, now",
    responses=error_responses(*ADMIN, errors.NotFound, errors.ValidationFailed, errors.EndpointDisabled),
)
async def replay_delivery(delivery_id: Id, token: AdminToken, state: State) -> ReplayOut:
    return ReplayOut(delivery_id=await state.webhooks.replay(token.account_id, delivery_id))
