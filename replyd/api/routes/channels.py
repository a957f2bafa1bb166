"""The account's channels: connect an assistant to WhatsApp, Twilio SMS or Telegram, list them,
remove one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from replyd import errors
from replyd.api.channel_schemas import ChannelData, ChannelIn, ChannelListOut, DeletedChannelOut, NewChannelOut
from replyd.api.deps import AdminToken, body_of
from replyd.api.openapi import BODY_ERRORS, error_responses, json_body
from replyd.app_state import State
from replyd.services.views import MAX_ID

router = APIRouter(tags=["channels"])

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
ADMIN = (errors.Unauthenticated, errors.Forbidden)


@router.post(
    "/api/channels",
    summary="Connect an assistant to a channel",
    openapi_extra=json_body(ChannelIn),
    responses=error_responses(*BODY_ERRORS, *ADMIN, errors.AssistantNotFound, errors.ChannelKeyMissing),
)
async def add_channel(
    token: AdminToken, state: State, body: Annotated[ChannelIn, Depends(body_of(ChannelIn))]
) -> NewChannelOut:
    new = await state.channels.add(token.account_id, body.assistant_id, body.kind, body.credentials)
    return NewChannelOut(channel=ChannelData.of(new.channel), inbound_secret=new.inbound_secret)


@router.get("/api/channels", summary="The account's channels", responses=error_responses(*ADMIN))
async def list_channels(token: AdminToken, state: State) -> ChannelListOut:
    return ChannelListOut(data=[ChannelData.of(c) for c in await state.channels.channels(token.account_id)])


@router.delete(
    "/api/channels/{channel_id}",
    summary="Remove a channel",
    description="Idempotent: a channel that is not in your account (removed already, or never) answers the same.",
    responses=error_responses(*ADMIN, errors.ValidationFailed),
)
async def remove_channel(channel_id: Id, token: AdminToken, state: State) -> DeletedChannelOut:
    await state.channels.remove(token.account_id, channel_id)
    return DeletedChannelOut(channel_id=channel_id)
