"""Bodies of the chat widget's public endpoints (``/widget/{key}/...``): what a page may send and
is shown. Never costs, tokens or function calls: a page is anybody's."""

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from replyd.formats import NO_NUL
from replyd.services.views import MessageView


class OpenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visitor: str | None = Field(default=None, max_length=1000, description="The visitor id replyd gave before.")
    user_id: str | None = Field(default=None, min_length=1, max_length=255, pattern=NO_NUL.pattern)
    """The page's own id of a signed-in user, with ``user_hash``: that user's conversation."""
    user_hash: str | None = Field(default=None, max_length=128, description="Hex HMAC-SHA256 of user_id.")

    @model_validator(mode="after")
    def _identity_is_signed(self) -> Self:
        if (self.user_id is None) != (self.user_hash is None):
            raise ValueError("user_id and user_hash go together")
        return self


class WidgetMessage(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    author: Literal["customer", "ai", "agent"]
    content: str
    created_at: datetime

    @classmethod
    def of(cls, message: MessageView) -> "WidgetMessage":
        return cls.model_validate(message, from_attributes=True)


class WidgetOut(BaseModel):
    success: bool = True
    widget: dict[str, Any] = Field(description="Colour, title, greeting, position, language and strings.")


class OpenOut(BaseModel):
    success: bool = True
    visitor: str = Field(description="Keep it (the widget keeps it in localStorage) and send it back.")
    conversation_id: str
    messages: list[WidgetMessage]


class MessagesOut(BaseModel):
    success: bool = True
    messages: list[WidgetMessage]


class SentOut(BaseModel):
    success: bool = True
    reply: str | None = Field(description="The AI's answer; null while a human has taken the conversation over.")
    ai_disabled: bool
