"""Bodies of the channel endpoints."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, StrictStr

from replyd.api.openapi import example
from replyd.channels.kinds import KINDS
from replyd.services.channels import ChannelView
from replyd.services.views import MAX_ID

CHANNEL_EXAMPLE: dict[str, JsonValue] = {
    "id": 4,
    "assistant_id": 1,
    "kind": "telegram",
    "inbound_path": "/channels/4/telegram",
    "created_at": "2026-12-03T15:00:00Z",
}


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assistant_id: StrictInt = Field(ge=1, le=MAX_ID, description="The assistant that answers on the channel.")
    kind: StrictStr = Field(description=f"One of {', '.join(KINDS)}.")
    credentials: dict[str, StrictStr] = Field(
        max_length=10,
        description="The platform's: whatsapp {access_token, app_secret, phone_number_id}; "
        "twilio {account_sid, auth_token, from_number}; telegram {bot_token}. Stored encrypted, never shown again.",
    )


class ChannelData(BaseModel):
    id: int
    assistant_id: int
    kind: str
    inbound_path: str = Field(description="Where the platform sends messages, under this server's public URL.")
    created_at: datetime

    @classmethod
    def of(cls, channel: ChannelView) -> "ChannelData":
        return cls(
            id=channel.id,
            assistant_id=channel.assistant_id,
            kind=channel.kind,
            inbound_path=channel.inbound_path,
            created_at=channel.created_at,
        )


class NewChannelOut(BaseModel):
    model_config = example(success=True, channel=CHANNEL_EXAMPLE, inbound_secret="n3Jx0q6Yw1...")

    success: bool = True
    channel: ChannelData
    inbound_secret: str | None = Field(
        description="For the platform's side, shown only now: WhatsApp's verify token, Telegram's secret "
        "token; null for Twilio, which signs with your auth token."
    )


class ChannelListOut(BaseModel):
    model_config = example(success=True, data=[CHANNEL_EXAMPLE])

    success: bool = True
    data: list[ChannelData]


class DeletedChannelOut(BaseModel):
    model_config = example(success=True, channel_id=4, deleted=True)

    success: bool = True
    channel_id: int
    deleted: bool = True
