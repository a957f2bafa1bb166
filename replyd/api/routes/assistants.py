"""The token's account's assistants: create, list, get, update (partial), delete."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from replyd import errors
from replyd.api.assistant_schemas import (
    AssistantData,
    AssistantListOut,
    AssistantOut,
    DeletedAssistantOut,
    partial_schema,
)
from replyd.api.deps import AdminToken
from replyd.api.openapi import BODY_ERRORS, error_responses, json_body
from replyd.api.validation import read_json_object
from replyd.app_state import State
from replyd.services.assistant_config import AssistantConfig
from replyd.services.views import MAX_ID

router = APIRouter(tags=["assistants"])

AssistantPathId = Annotated[int, Path(ge=1, le=MAX_ID)]

FOUND = (errors.Unauthenticated, errors.Forbidden, errors.AssistantNotFound, errors.ValidationFailed)
WRITE = (*BODY_ERRORS, errors.Unauthenticated, errors.Forbidden)


@router.post(
    "/api/assistants",
    summary="Create an assistant",
    status_code=201,
    openapi_extra=json_body(AssistantConfig),
    responses=error_responses(*WRITE),
)
async def create_assistant(request: Request, token: AdminToken, state: State) -> AssistantOut:
    fields = await read_json_object(request, state.settings.max_body_bytes)
    assistant = await state.assistants.create(token.account_id, fields)
    return AssistantOut(assistant=AssistantData.of(assistant))


@router.get("/api/assistants", summary="List the account's assistants", responses=error_responses(*FOUND))
async def list_assistants(token: AdminToken, state: State) -> AssistantListOut:
    return AssistantListOut(data=[AssistantData.of(a) for a in await state.assistants.list(token.account_id)])


@router.get("/api/assistants/{assistant_id}", summary="One assistant", responses=error_responses(*FOUND))
async def get_assistant(assistant_id: AssistantPathId, token: AdminToken, state: State) -> AssistantOut:
    return AssistantOut(assistant=AssistantData.of(await state.assistants.get(token.account_id, assistant_id)))


@router.patch(
    "/api/assistants/{assistant_id}",
    summary="Change some of an assistant's settings",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": partial_schema()}}}},
    responses=error_responses(*FOUND, *WRITE),
)
async def update_assistant(
    assistant_id: AssistantPathId, request: Request, token: AdminToken, state: State
) -> AssistantOut:
    changes: dict[str, Any] = await read_json_object(request, state.settings.max_body_bytes)
    assistant = await state.assistants.update(token.account_id, assistant_id, changes)
    return AssistantOut(assistant=AssistantData.of(assistant))


@router.delete(
    "/api/assistants/{assistant_id}",
    summary="Delete an assistant (with ?force=true also its conversations)",
    description="Idempotent: an assistant that is not in your account (deleted already, or never) answers the same.",
    responses=error_responses(errors.Unauthenticated, errors.Forbidden, errors.ValidationFailed, errors.AssistantInUse),
)
async def delete_assistant(
    assistant_id: AssistantPathId,
    token: AdminToken,
    state: State,
    force: Annotated[bool, Query(description="Also erase the assistant's conversations.")] = False,
) -> DeletedAssistantOut:
    await state.assistants.delete(token.account_id, assistant_id, force)
    return DeletedAssistantOut(assistant_id=assistant_id)
