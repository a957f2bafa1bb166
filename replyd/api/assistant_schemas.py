"""Bodies of the assistant endpoints: the settings are ``AssistantConfig``, as in the CLI."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, JsonValue

from replyd.api.openapi import example
from replyd.services.assistant_config import AssistantConfig
from replyd.services.views import AssistantView


class AssistantData(AssistantConfig):
    id: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, assistant: AssistantView) -> "AssistantData":
        """Not validated again: the settings are as the services read them, and an assistant saved
        under older rules is shown as saved."""
        settings = dict(assistant.config)
        return cls.model_construct(
            id=assistant.id, created_at=assistant.created_at, updated_at=assistant.updated_at, **settings
        )


ASSISTANT_EXAMPLE: dict[str, JsonValue] = {
    "id": 1,
    "name": "Support",
    "system_prompt": "You help customers of Bob's Bikes.",
    "model": "openai:gpt-4o-mini",
    "temperature": 0.7,
    "max_reply_tokens": 256,
    "context_budget_tokens": 2048,
    "first_message": None,
    "reply_fee": "0.01",
    "input_price_per_million_tokens": "0.15",
    "output_price_per_million_tokens": "0.60",
    "functions": [],
    "handoff_enabled": True,
    "handoff_message": "A colleague will answer here shortly.",
    "max_function_rounds": 5,
    "summary_model": None,
    "created_at": "2026-11-26T01:30:00Z",
    "updated_at": "2026-11-26T01:30:00Z",
}


class AssistantOut(BaseModel):
    model_config = example(success=True, assistant=ASSISTANT_EXAMPLE)

    success: bool = True
    assistant: AssistantData


class AssistantListOut(BaseModel):
    model_config = example(success=True, data=[ASSISTANT_EXAMPLE])

    success: bool = True
    data: list[AssistantData]


class DeletedAssistantOut(BaseModel):
    model_config = example(success=True, assistant_id=1, deleted=True)

    success: bool = True
    assistant_id: int
    deleted: bool = True


def partial_schema() -> dict[str, Any]:
    """AssistantConfig with no field required: the body of a partial update."""
    schema = AssistantConfig.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("required", None)
    schema["title"] = "AssistantChanges"
    return schema
