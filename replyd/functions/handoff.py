"""The built-in ``handoff_to_human``: the model calls it to pass the conversation to a person."""

from typing import Any

from replyd.providers.base import ToolSpec

HANDOFF_NAME = "handoff_to_human"
DEFAULT_HANDOFF_MESSAGE = "I'm passing you to a colleague, who will answer here shortly."

HANDOFF_TOOL = ToolSpec(
    name=HANDOFF_NAME,
    description="Hand the conversation over to a human agent, when the customer asks for a person "
    "or you cannot help. After this call the AI stops answering this customer.",
    parameters={
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why a human should take over."}},
    },
)

HANDOFF_RESULT: dict[str, Any] = {"status": "handed_over"}
