"""Bodies of the conversation endpoints, in Famulor's shapes (``status`` instead of ``success``)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from replyd.api.schemas import AssistantId, MessageText, Variables
from replyd.money import format_micros
from replyd.store.conversations import ConversationSummary
from replyd.store.tables import Conversation, Message


class HistoryItem(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    function_calls: list[dict[str, Any]]
    author: Literal["customer", "ai", "agent"] = Field(
        description="Who wrote it: the customer, the AI, or a human operator (agent)."
    )
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> "HistoryItem":
        return cls(
            role=message.role,  # type: ignore[arg-type]
            content=message.content,
            function_calls=message.function_calls,
            author=message.author,  # type: ignore[arg-type]
            created_at=message.created_at,
        )


class ConversationOut(BaseModel):
    status: bool = True
    conversation_id: str
    assistant_id: int
    type: str
    external_identifier: str | None = Field(description="The customer_identifier of generate-reply conversations.")
    ai_enabled: bool
    variables: dict[str, Any]
    history: list[HistoryItem]

    @classmethod
    def of(cls, conversation: Conversation, messages: list[Message]) -> "ConversationOut":
        return cls(
            conversation_id=conversation.id,
            assistant_id=conversation.assistant_id,
            type=conversation.type,
            external_identifier=conversation.customer_identifier,
            ai_enabled=not conversation.ai_disabled,
            variables=conversation.variables,
            history=[HistoryItem.of(m) for m in messages],
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
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, summary: ConversationSummary) -> "ConversationListItem":
        conversation = summary.conversation
        return cls(
            id=conversation.id,
            assistant_id=conversation.assistant_id,
            assistant_name=summary.assistant_name,
            type=conversation.type,
            variables=conversation.variables,
            external_identifier=conversation.customer_identifier,
            message_count=summary.message_count,
            total_cost=format_micros(summary.total_cost_micros),
            ai_enabled=not conversation.ai_disabled,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
        )


class ConversationPage(BaseModel):
    data: list[ConversationListItem]
    per_page: int
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next (older) page; null on the last.")
    prev_cursor: str | None = Field(description="Pass as ?cursor= for the previous (newer) page; null on the first.")
    path: str


class ConversationStateOut(BaseModel):
    status: bool = True
    conversation_id: str
    ai_enabled: bool

    @classmethod
    def of(cls, conversation: Conversation) -> "ConversationStateOut":
        return cls(conversation_id=conversation.id, ai_enabled=not conversation.ai_disabled)


class StartConversationIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    assistant_id: AssistantId
    type: Literal["widget", "test"] = "widget"
    variables: Variables = None


class StartedConversationOut(BaseModel):
    status: bool = True
    conversation_id: str
    history: list[HistoryItem]


class ConversationMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: MessageText


class ConversationReplyOut(BaseModel):
    status: bool = True
    message: str | None = Field(description="The assistant's reply; null when the AI is disabled.")
    function_calls: list[dict[str, Any]]
    ai_disabled: bool


class AgentMessageOut(BaseModel):
    status: bool = True
    conversation_id: str
    message: HistoryItem


class DeletedConversationOut(BaseModel):
    status: bool = True
    conversation_id: str
    deleted: bool = True
