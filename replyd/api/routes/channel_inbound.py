"""What the platforms post to a channel's inbound URL. Answered at once (platforms retry a slow
answer): the message is kept first, then answered in the background, and the answer goes out
through the channel. Not part of the API's document: the platforms, not clients, call these."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from replyd.api.validation import read_json_object
from replyd.app_state import State
from replyd.channels import telegram
from replyd.services.views import MAX_ID

router = APIRouter(include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("/channels/{channel_id}/telegram")
async def telegram_update(channel_id: Id, request: Request, state: State) -> JSONResponse:
    update = await read_json_object(request, state.settings.max_body_bytes)
    inbound = await state.channels.receive_telegram(channel_id, request.headers.get(telegram.SECRET_HEADER), update)
    if inbound is not None:
        state.channels.answer_soon(inbound)
    return JSONResponse({"ok": True})
