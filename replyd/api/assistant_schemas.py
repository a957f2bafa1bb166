"""Bodies of the assistant endpoints: the settings are ``AssistantConfig``, as in the CLI."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from replyd.engine.assistant_config import AssistantConfig
from replyd.engine.assistants import config_of
from replyd.store.tables import Assistant


class AssistantData(AssistantConfig):
    id: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, assistant: Assistant) -> "AssistantData":
        config = config_of(assistant).model_dump()
        return cls(id=assistant.id, created_at=assistant.created_at, updated_at=assistant.updated_at, **config)


class AssistantOut(BaseModel):
    success: bool = True
    assistant: AssistantData


class AssistantListOut(BaseModel):
    success: bool = True
    data: list[AssistantData]


class DeletedAssistantOut(BaseModel):
    success: bool = True
    assistant_id: int
    deleted: bool = True


def partial_schema() -> dict[str, Any]:
    """AssistantConfig with no field required: the body of a partial update."""
    schema = AssistantConfig.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("required", None)
    schema["title"] = "AssistantChanges"
    return schema
