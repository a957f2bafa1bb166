"""Request and response bodies of the HTTP API, with the rules the spec gives each field."""

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, StrictStr, ValidationInfo, field_validator

from replyd.engine.variables import Scalar

REPLY_EXAMPLE: dict[str, JsonValue] = {
    "success": True,
    "conversation_id": "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21",
    "customer_identifier": "+49155551234",
    "reply": "Hi John! I'd be happy to help you schedule an appointment. What day and time work best for you?",
    "function_calls": [],
    "ai_disabled": False,
}


class ReplyIn(BaseModel):
    """Famulor's generate-reply request. Unknown fields are ignored, as a tolerant reader would."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "assistant_id": 1,
                "customer_identifier": "+49155551234",
                "message": "Hi, can I book an appointment for Friday?",
                "variables": {"customer_name": "John", "source": "whatsapp"},
            }
        },
    )

    assistant_id: StrictInt = Field(ge=1, description="An assistant of your account.")
    customer_identifier: StrictStr = Field(
        min_length=1, max_length=255, description="Phone number, e-mail, CRM id...; used exactly as sent."
    )
    message: StrictStr = Field(
        min_length=1, description="The customer's message; at most 32,000 characters by default."
    )
    variables: dict[str, Any] | None = Field(
        default=None,
        description="Flat object of string, number, boolean or null values, merged into the conversation's "
        "variables; null removes a key.",
    )

    @field_validator("customer_identifier", "message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("message")
    @classmethod
    def _not_too_long(cls, value: str, info: ValidationInfo) -> str:
        limit = (info.context or {}).get("max_message_chars")
        if limit is not None and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters (it has {len(value)})")
        return value

    @field_validator("variables")
    @classmethod
    def _flat(cls, variables: dict[str, Any] | None) -> dict[str, Scalar] | None:
        for key, value in (variables or {}).items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValueError(f"variable {key!r} must be a string, number, boolean or null (variables are flat)")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"variable {key!r} must be a finite number")
        return variables


class ReplyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": REPLY_EXAMPLE})

    success: bool = True
    conversation_id: str
    customer_identifier: str
    reply: str | None = Field(description="The assistant's reply; null when the AI is disabled (manual takeover).")
    function_calls: list[dict[str, Any]] = Field(description="Functions called while producing this reply, in order.")
    ai_disabled: bool


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    success: bool = False
    error: str
    error_code: str
    details: list[FieldError] | None = None
