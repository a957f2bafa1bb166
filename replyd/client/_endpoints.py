"""Every endpoint of the API as a ``Call``, named like the client method that sends it."""

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal
from urllib.parse import quote

from replyd.client._calls import Call, ignore_body
from replyd.client._models import (
    Account,
    AgentMessage,
    Assistant,
    AssistantAnswer,
    AssistantList,
    Conversation,
    ConversationPage,
    ConversationReply,
    ConversationState,
    ErasedCustomer,
    Reply,
    StartedConversation,
    Usage,
)

ConversationType = Literal["api", "widget", "test"]
Variables = Mapping[str, str | int | float | bool | None]
"""Flat: merged into the conversation's variables; None removes a key."""


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _conversation(conversation_id: str, suffix: str = "") -> str:
    return f"/api/conversations/{quote(conversation_id, safe='')}{suffix}"


def _assistant(assistant_id: int) -> str:
    return f"/api/assistants/{int(assistant_id)}"


def generate_reply(
    assistant_id: int,
    customer_identifier: str,
    message: str,
    variables: Variables | None,
    idempotency_key: str | None,
) -> Call[Reply]:
    body: dict[str, Any] = {
        "assistant_id": assistant_id,
        "customer_identifier": customer_identifier,
        "message": message,
    }
    if variables is not None:
        body["variables"] = dict(variables)
    return Call(
        "POST",
        "/api/ai/generate-reply",
        Reply.model_validate,
        body=body,
        idempotency_key=idempotency_key or new_idempotency_key(),
    )


def get_conversation(conversation_id: str) -> Call[Conversation]:
    return Call("GET", _conversation(conversation_id), Conversation.model_validate, is_idempotent=True)


def list_conversations(
    assistant_id: int | None,
    type: ConversationType | None,
    external_identifier: str | None,
    per_page: int | None,
    cursor: str | None,
) -> Call[ConversationPage]:
    params = {
        "assistant_id": assistant_id,
        "type": type,
        "external_identifier": external_identifier,
        "per_page": per_page,
        "cursor": cursor,
    }
    return Call("GET", "/api/user/conversations", ConversationPage.model_validate, params=params, is_idempotent=True)


def set_ai(conversation_id: str, is_enabled: bool) -> Call[ConversationState]:
    action = "enable-ai" if is_enabled else "disable-ai"
    path = f"/api/automate/conversations/{quote(conversation_id, safe='')}/{action}"
    return Call("POST", path, ConversationState.model_validate, is_idempotent=True)


def start_conversation(
    assistant_id: int, type: Literal["widget", "test"], variables: Variables | None
) -> Call[StartedConversation]:
    body: dict[str, Any] = {"assistant_id": assistant_id, "type": type}
    if variables is not None:
        body["variables"] = dict(variables)
    return Call("POST", "/api/conversations", StartedConversation.model_validate, body=body)


def send_message(conversation_id: str, message: str, idempotency_key: str | None) -> Call[ConversationReply]:
    return Call(
        "POST",
        _conversation(conversation_id, "/messages"),
        ConversationReply.model_validate,
        body={"message": message},
        idempotency_key=idempotency_key or new_idempotency_key(),
    )


def add_agent_message(conversation_id: str, message: str) -> Call[AgentMessage]:
    path = _conversation(conversation_id, "/agent-messages")
    return Call("POST", path, AgentMessage.model_validate, body={"message": message})


def delete_conversation(conversation_id: str) -> Call[None]:
    return Call("DELETE", _conversation(conversation_id), ignore_body, is_idempotent=True)


def erase_customer(customer_identifier: str) -> Call[ErasedCustomer]:
    path = f"/api/customers/{quote(customer_identifier, safe='')}"
    return Call("DELETE", path, ErasedCustomer.model_validate, is_idempotent=True)


def create_assistant(fields: Mapping[str, Any]) -> Call[Assistant]:
    return Call("POST", "/api/assistants", _read_assistant, body=fields)


def list_assistants() -> Call[list[Assistant]]:
    return Call("GET", "/api/assistants", _read_assistants, is_idempotent=True)


def get_assistant(assistant_id: int) -> Call[Assistant]:
    return Call("GET", _assistant(assistant_id), _read_assistant, is_idempotent=True)


def update_assistant(assistant_id: int, changes: Mapping[str, Any]) -> Call[Assistant]:
    return Call("PATCH", _assistant(assistant_id), _read_assistant, body=changes)


def delete_assistant(assistant_id: int, force: bool) -> Call[None]:
    params = {"force": True} if force else {}
    return Call("DELETE", _assistant(assistant_id), ignore_body, params=params, is_idempotent=True)


def get_account() -> Call[Account]:
    return Call("GET", "/api/account", Account.model_validate, is_idempotent=True)


def get_usage(per_page: int | None, cursor: str | None, since: date | None, until: date | None) -> Call[Usage]:
    days = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
    params = {"per_page": per_page, "cursor": cursor} | days
    return Call("GET", "/api/account/usage", Usage.model_validate, params=params, is_idempotent=True)


def _read_assistant(body: Any) -> Assistant:
    return AssistantAnswer.model_validate(body).assistant


def _read_assistants(body: Any) -> list[Assistant]:
    return AssistantList.model_validate(body).data
