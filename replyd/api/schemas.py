"""Request and response bodies of the HTTP API, with the rules the spec gives each field."""

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StrictInt, StrictStr, ValidationInfo

from replyd.engine.variables import Scalar
from replyd.services.conversations import message_problem
from replyd.services.views import MAX_ID

REPLY_EXAMPLE: dict[str, JsonValue] = {
    "success": True,
    "conversation_id": "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21",
    "customer_identifier": "+49155551234",
    "reply": "Hi John! I'd be happy to help you schedule an appointment. What day and time work best for you?",
    "function_calls": [],
    "ai_disabled": False,
}


AssistantId = Annotated[StrictInt, Field(ge=1, le=MAX_ID, description="An assistant of your account.")]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _acceptable_message(value: str, info: ValidationInfo) -> str:
    """The services' one rule for messages; the limit is a setting, so it comes in the
    validation context."""
    problem = message_problem(value, (info.context or {}).get("max_message_chars", math.inf))
    if problem is not None:
        raise ValueError(problem)
    return value


def _flat(variables: dict[str, Any] | None) -> dict[str, Scalar] | None:
    for key, value in (variables or {}).items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(f"variable {key!r} must be a string, number, boolean or null (variables are flat)")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"variable {key!r} must be a finite number")
    return variables


MessageText = Annotated[
    StrictStr,
    Field(min_length=1, description="Not blank; at most 32,000 characters by default (REPLYD_MAX_MESSAGE_CHARS)."),
    AfterValidator(_acceptable_message),
]
Variables = Annotated[
    dict[str, Any] | None,
    Field(
        description="Flat object of string, number, boolean or null values, merged into the conversation's "
        "variables; null removes a key."
    ),
    AfterValidator(_flat),
]


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

    assistant_id: AssistantId
    customer_identifier: Annotated[
        StrictStr,
        Field(min_length=1, max_length=255, description="Phone number, e-mail, CRM id...; used exactly as sent."),
        AfterValidator(_not_blank),
    ]
    message: MessageText
    variables: Variables = None


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
