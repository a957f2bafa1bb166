"""What the platforms post to a channel's inbound URL. Answered at once (platforms retry a slow
answer): the message is kept first, then answered in the background, and the answer goes out
through the channel. Not part of the API's document: the platforms, not clients, call these."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from replyd.api.validation import read_body, read_form, read_json_object
from replyd.app_state import State
from replyd.channels import telegram, twilio, whatsapp
from replyd.services import Services
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


@router.get("/channels/{channel_id}/whatsapp")
async def whatsapp_verification(channel_id: Id, request: Request, state: State) -> PlainTextResponse:
    """Meta's handshake when the webhook URL is set: the challenge back, as plain text."""
    query = request.query_params
    challenge = await state.channels.verify_whatsapp(
        channel_id, query.get("hub.mode"), query.get("hub.verify_token"), query.get("hub.challenge")
    )
    return PlainTextResponse(challenge)


@router.post("/channels/{channel_id}/whatsapp")
async def whatsapp_notification(channel_id: Id, request: Request, state: State) -> JSONResponse:
    body = await read_body(request, state.settings.max_body_bytes)  # signed as sent: read before parsing
    kept = await state.channels.receive_whatsapp(channel_id, request.headers.get(whatsapp.SIGNATURE_HEADER), body)
    for inbound in kept:
        state.channels.answer_soon(inbound)
    return JSONResponse({"ok": True})


@router.post("/channels/{channel_id}/twilio")
async def twilio_message(channel_id: Id, request: Request, state: State) -> Response:
    """An SMS; answered with empty TwiML (the answer goes out later, through the REST API)."""
    form = await read_form(request, state.settings.max_body_bytes)
    signature = request.headers.get(twilio.SIGNATURE_HEADER)
    inbound = await state.channels.receive_twilio(channel_id, _called_url(request, state), form, signature)
    if inbound is not None:
        state.channels.answer_soon(inbound)
    return Response(twilio.EMPTY_TWIML, media_type="text/xml")


@router.post("/channels/{channel_id}/twilio/status")
async def twilio_status(channel_id: Id, request: Request, state: State) -> Response:
    """A status callback of an SMS replyd sent (``StatusCallback``)."""
    form = await read_form(request, state.settings.max_body_bytes)
    signature = request.headers.get(twilio.SIGNATURE_HEADER)
    await state.channels.receive_twilio_status(channel_id, _called_url(request, state), form, signature)
    return Response(status_code=204)


def _called_url(request: Request, state: Services) -> str:
    """The URL as Twilio called it (it signs it whole): under the public URL, when one is set."""
    public = state.settings.public_url
    if public is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public}{request.url.path}{query}"
