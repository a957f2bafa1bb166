"""``POST /api/ai/generate-reply``: Famulor's contract, answered by replyd's reply engine."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Header, Request

from replyd import errors
from replyd.api.deps import ReplyCaller
from replyd.api.openapi import REPLY_ERRORS, error_responses, json_body
from replyd.api.schemas import ReplyIn, ReplyOut
from replyd.api.validation import read_json_object, validate_model
from replyd.app_state import State
from replyd.engine.receive import ReplyRequest
from replyd.engine.reply import GENERATE_REPLY_ROUTE

router = APIRouter(tags=["replies"])


@router.post(
    GENERATE_REPLY_ROUTE,
    summary="Generate an AI reply to a customer's message",
    openapi_extra=json_body(ReplyIn),
    responses=error_responses(*REPLY_ERRORS, errors.AssistantNotFound, errors.ReplydError),
)
async def generate_reply(
    request: Request,
    caller: ReplyCaller,
    state: State,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> ReplyOut:
    data = await read_json_object(request, state.settings.max_body_bytes)
    body = validate_model(ReplyIn, data, {"max_message_chars": state.settings.max_message_chars})
    reply_request = ReplyRequest(body.assistant_id, body.customer_identifier, body.message, body.variables)
    result = await state.replies.reply(caller, reply_request, idempotency_key)
    return ReplyOut(**asdict(result))
