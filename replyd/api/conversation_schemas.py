"""Bodies of the conversation endpoints, in Famulor's shapes (``status`` instead of ``success``)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from replyd.api.openapi import example
from replyd.api.schemas import AssistantId, MessageText, Variables
from replyd.money import format_micros
from replyd.services.views import ChannelDeliveryView, ConversationHistory, ConversationListing, MessageView


class ChannelDeliveryOut(BaseModel):
    status: Literal["pending", "accepted", "sent", "delivered", "read", "failed"] = Field(
        description="`pending` while replyd sends it (retrying after a refusal: see `error`), `accepted` by the "
        "platform, `sent` to the customer's phone or app, `delivered`, `read` (as far as the platform reports), "
        "or `failed` for good (see `error`)."
    )
    error: str | None = Field(description="In plain words: why it failed, or why the last attempt did.")
    updated_at: datetime

    @classmethod
    def of(cls, delivery: ChannelDeliveryView) -> "ChannelDeliveryOut":
        return cls(status=delivery.status, error=delivery.error, updated_at=delivery.updated_at)  # type: ignore[arg-type]


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    function_calls: list[dict[str, Any]]
    author: Literal["customer", "ai", "agent"] = Field(
        description="Who wrote it: the customer, the AI, or a human operator (agent)."
    )
    created_at: datetime
    reply_status: Literal["pending", "answered", "failed"] | None = Field(
        default=None,
        description="A customer's message is stored before the AI answers it: `pending` while the model "
        "thinks, then `answered`, or `failed` (see `reply_error`; sending the same message again answers it). "
        "Null when no AI answer was asked for (the AI was off) and on the AI's and agents' messages.",
    )
    reply_error: str | None = Field(default=None, description="Why the AI could not answer a `failed` message.")
    delivery: ChannelDeliveryOut | None = Field(
        default=None,
        description="On the AI's and agents' messages in a conversation on a channel (WhatsApp, SMS, Telegram): "
        "what became of the message there. Null otherwise.",
    )

    @classmethod
    def of(cls, message: MessageView, delivery: ChannelDeliveryView | None = None) -> "HistoryItem":
        return cls(
            role=message.role,  # type: ignore[arg-type]
            content=message.content,
            function_calls=message.function_calls,
            author=message.author,  # type: ignore[arg-type]
            created_at=message.created_at,
            reply_status=message.reply_status,  # type: ignore[arg-type]
            reply_error=message.reply_error,
            delivery=ChannelDeliveryOut.of(delivery) if delivery else None,
        )


HISTORY_EXAMPLE: dict[str, JsonValue] = {
    "role": "user",
    "content": "Hi, I want to book a repair.",
    "function_calls": [],
    "author": "customer",
    "created_at": "2026-11-26T01:38:09.123456Z",
    "reply_status": "answered",
    "reply_error": None,
    "delivery": None,
}


AiDisabledBy = Annotated[
    str | None,
    Field(
        description="While the AI is off: operator (a takeover), model (its handoff call) or rule "
        "(a handoff trigger matched); null while it is on, and for conversations turned off before replyd knew."
    ),
]


class ConversationOut(BaseModel):
    model_config = example(
        status=True,
        conversation_id="5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21",
        assistant_id=1,
        type="api",
        external_identifier="+49155551234",
        ai_enabled=True,
        ai_disabled_by=None,
        ai_disabled_reason=None,
        needs_human=False,
        variables={"customer_name": "John"},
        history=[HISTORY_EXAMPLE],
    )

    status: bool = True
    conversation_id: str
    assistant_id: int
    type: str
    external_identifier: str | None = Field(description="The customer_identifier of generate-reply conversations.")
    ai_enabled: bool
    ai_disabled_by: AiDisabledBy
    ai_disabled_reason: str | None = Field(description="Why, for a handoff.")
    needs_human: bool = Field(description="A handoff that no human has answered yet.")
    variables: dict[str, Any]
    history: list[HistoryItem]

    @classmethod
    def of(cls, history: ConversationHistory) -> "ConversationOut":
        conversation = history.conversation
        return cls(
            conversation_id=conversation.id,
            assistant_id=conversation.assistant_id,
            type=conversation.type,
            external_identifier=conversation.customer_identifier,
            ai_enabled=not conversation.ai_disabled,
            ai_disabled_by=conversation.ai_disabled_by,
            ai_disabled_reason=conversation.ai_disabled_reason,
            needs_human=conversation.needs_human,
            variables=conversation.variables,
            history=[HistoryItem.of(m, history.deliveries.get(m.id)) for m in history.messages],
        )


class ConversationListItem(BaseModel):
    id: str
    assistant_id: int
    assistant_name: str
    type: str
    variables: dict[str, Any]
    external_identifier: str | None
    message_count: int
    total_cost: str = Field(description="Charged for this conversation so far, in the account's currency.")
    ai_enabled: bool
    ai_disabled_by: AiDisabledBy
    needs_human: bool = Field(description="A handoff that no human has answered yet.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, summary: ConversationListing) -> "ConversationListItem":
        conversation = summary.conversation
        return cls(
            id=conversation.id,
            assistant_id=conversation.assistant_id,
            assistant_name=summary.assistant_name,
            type=conversation.type,
            variables=conversation.variables,
            external_identifier=conversation.customer_identifier,
            message_count=summary.conversation.message_count,
            total_cost=format_micros(summary.conversation.total_cost_micros),
            ai_enabled=not conversation.ai_disabled,
            ai_disabled_by=conversation.ai_disabled_by,
            needs_human=conversation.needs_human,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
        )


class ConversationPage(BaseModel):
    model_config = example(
        data=[
            {
                "id": "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21",
                "assistant_id": 1,
                "assistant_name": "Support",
                "type": "api",
                "variables": {},
                "external_identifier": "+49155551234",
                "message_count": 4,
                "total_cost": "0.02",
                "ai_enabled": True,
                "ai_disabled_by": None,
                "needs_human": False,
                "created_at": "2026-11-26T01:38:09Z",
                "updated_at": "2026-11-26T01:40:12Z",
            }
        ],
        per_page=15,
        next_cursor=None,
        prev_cursor=None,
        path="http://127.0.0.1:8000/api/user/conversations",
    )

    data: list[ConversationListItem]
    per_page: int
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null on the last.")
    prev_cursor: str | None = Field(description="Pass as ?cursor= for the previous (newer) page; null on the first.")
    path: str


class MessageItem(HistoryItem):
    id: int = Field(description="Later messages have larger ids.")

    @classmethod
    def of(cls, message: MessageView, delivery: ChannelDeliveryView | None = None) -> "MessageItem":
        return cls(id=message.id, **HistoryItem.of(message, delivery).model_dump())


class HistoryPageOut(BaseModel):
    model_config = example(status=True, data=[{"id": 41, **HISTORY_EXAMPLE}], per_page=50, next_cursor=None)

    status: bool = True
    data: list[MessageItem] = Field(description="The conversation's messages, newest first.")
    per_page: int
    next_cursor: str | None = Field(description="Pass as ?cursor= for the older messages; null when none are left.")


class ConversationStateOut(BaseModel):
    model_config = example(status=True, conversation_id="5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21", ai_enabled=False)

    status: bool = True
    conversation_id: str
    ai_enabled: bool


class StartConversationIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assistant_id: AssistantId
    type: Literal["widget", "test"] = "widget"
    variables: Variables = None


class StartedConversationOut(BaseModel):
    model_config = example(status=True, conversation_id="5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21", history=[])

    status: bool = True
    conversation_id: str
    history: list[HistoryItem]


class ConversationMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: MessageText


class ConversationReplyOut(BaseModel):
    model_config = example(status=True, message="Our shop opens at 9.", function_calls=[], ai_disabled=False)

    status: bool = True
    message: str | None = Field(description="The assistant's reply; null when the AI is disabled.")
    function_calls: list[dict[str, Any]]
    ai_disabled: bool


class AgentMessageOut(BaseModel):
    model_config = example(status=True, conversation_id="5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21", message=HISTORY_EXAMPLE)

    status: bool = True
    conversation_id: str
    message: HistoryItem


class AgentTypingOut(BaseModel):
    model_config = example(status=True, conversation_id="5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21", typing=True)

    status: bool = True
    conversation_id: str
    typing: bool = True


class DeletedConversationOut(BaseModel):
    model_config = example(status=True, conversation_id="5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21", deleted=True)

    status: bool = True
    conversation_id: str
    deleted: bool = True
