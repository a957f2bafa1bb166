"""Conversations with Famulor's paths and shapes: read, list, take over, hand back, widget and
test chats, a human operator's messages, and erasure. Answers carry ``"status"``."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request

from replyd import errors
from replyd.api.conversation_schemas import (
    AgentMessageOut,
    AgentTypingOut,
    ConversationListItem,
    ConversationMessageIn,
    ConversationOut,
    ConversationPage,
    ConversationReplyOut,
    ConversationStateOut,
    DeletedConversationOut,
    HistoryItem,
    HistoryPageOut,
    MessageItem,
    StartConversationIn,
    StartedConversationOut,
)
from replyd.api.deps import AdminToken, CurrentToken, RateLimitedToken, body_of
from replyd.api.envelope import StatusEnvelopeRoute
from replyd.api.openapi import BODY_ERRORS, REPLY_ERRORS, error_responses, json_body
from replyd.app_state import State
from replyd.formats import NO_NUL
from replyd.services import Services
from replyd.services.accounts import TokenView
from replyd.services.conversations import HISTORY_LIMIT, MAX_HISTORY_LIMIT
from replyd.services.list_filters import list_filter
from replyd.services.views import MAX_ID
from replyd.store.search import MAX_SEARCH_CHARS

router = APIRouter(tags=["conversations"], route_class=StatusEnvelopeRoute)

READ_ERRORS = error_responses(errors.Unauthenticated, errors.ConversationNotFound, errors.ValidationFailed)
ADMIN = (errors.Unauthenticated, errors.Forbidden, errors.ConversationNotFound, errors.ValidationFailed)
ADMIN_ERRORS = error_responses(*ADMIN)


@router.get(
    "/api/conversations/{conversation_id}",
    summary="A conversation and its newest messages, oldest first",
    responses=READ_ERRORS,
)
async def get_conversation(
    conversation_id: str,
    token: CurrentToken,
    state: State,
    limit: Annotated[
        int, Query(ge=1, le=MAX_HISTORY_LIMIT, description="How many of the newest messages the history holds.")
    ] = HISTORY_LIMIT,
) -> ConversationOut:
    view = await state.conversations.get(token.account_id, conversation_id, limit)
    return ConversationOut.of(view)


@router.get(
    "/api/conversations/{conversation_id}/messages",
    summary="A conversation's messages, newest first, a page at a time",
    responses=READ_ERRORS,
)
async def list_messages(
    conversation_id: str,
    token: CurrentToken,
    state: State,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HistoryPageOut:
    page = await state.conversations.history(token.account_id, conversation_id, per_page, cursor)
    return HistoryPageOut(
        data=[MessageItem.of(m, page.deliveries.get(m.id)) for m in page.messages],
        per_page=per_page,
        next_cursor=page.next_cursor,
    )


@router.get(
    "/api/user/conversations",
    summary="List and search conversations, newest activity first",
    responses=error_responses(errors.Unauthenticated, errors.ValidationFailed),
)
async def list_conversations(
    request: Request,
    token: CurrentToken,
    state: State,
    assistant_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    type: Literal["api", "widget", "test"] | None = None,
    external_identifier: Annotated[str | None, Query(max_length=255, pattern=NO_NUL.pattern)] = None,
    customer_phone: Annotated[
        str | None, Query(max_length=255, pattern=NO_NUL.pattern, description="Alias of external_identifier.")
    ] = None,
    needs_human: Annotated[bool, Query(description="Only handoffs that no human has answered yet.")] = False,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_SEARCH_CHARS,
            pattern=NO_NUL.pattern,
            description="Search: conversations whose customer identifier or a variable's value holds this text "
            "(any part of it, case aside), or with a message holding each of its words (or words starting so).",
        ),
    ] = None,
    ai_enabled: Annotated[bool | None, Query(description="Only those with the AI on (true) or off (false).")] = None,
    since: Annotated[date | None, Query(description="Only those last active on this UTC day or later.")] = None,
    until: Annotated[date | None, Query(description="Only those last active on this UTC day or earlier.")] = None,
    per_page: Annotated[int, Query(ge=1, le=100)] = 15,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> ConversationPage:
    where = list_filter(
        assistant_id=assistant_id,
        type=type,
        customer_identifier=external_identifier or customer_phone,
        needs_human=needs_human,
        search=q,
        ai_enabled=ai_enabled,
        since=since,
        until=until,
    )
    page = await state.conversations.page(token.account_id, where, per_page, cursor)
    return ConversationPage(
        data=[ConversationListItem.of(row) for row in page.rows],
        per_page=per_page,
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        path=str(request.url.remove_query_params(["cursor"])),
    )


@router.post(
    "/api/automate/conversations/{conversation_id}/disable-ai",
    summary="Take a conversation over: the AI stops answering",
    responses=ADMIN_ERRORS,
)
async def disable_ai(conversation_id: str, token: AdminToken, state: State) -> ConversationStateOut:
    return await _set_ai(state, token, conversation_id, enabled=False)


@router.post(
    "/api/automate/conversations/{conversation_id}/enable-ai",
    summary="Hand a conversation back to the AI",
    responses=ADMIN_ERRORS,
)
async def enable_ai(conversation_id: str, token: AdminToken, state: State) -> ConversationStateOut:
    return await _set_ai(state, token, conversation_id, enabled=True)


async def _set_ai(state: Services, token: TokenView, conversation_id: str, *, enabled: bool) -> ConversationStateOut:
    await state.conversations.set_ai_enabled(token.account_id, conversation_id, enabled, f"api token {token.id}")
    return ConversationStateOut(conversation_id=conversation_id, ai_enabled=enabled)


@router.post(
    "/api/conversations",
    summary="Start a widget or test chat",
    openapi_extra=json_body(StartConversationIn),
    responses=error_responses(*BODY_ERRORS, errors.Unauthenticated, errors.Forbidden, errors.AssistantNotFound),
)
async def start_conversation(
    token: AdminToken, state: State, body: Annotated[StartConversationIn, Depends(body_of(StartConversationIn))]
) -> StartedConversationOut:
    view = await state.conversations.start(token.account_id, body.assistant_id, body.type, body.variables)
    return StartedConversationOut(
        conversation_id=view.conversation.id, history=[HistoryItem.of(m) for m in view.messages]
    )


@router.post(
    "/api/conversations/{conversation_id}/messages",
    summary="Send a customer's message to a conversation and get the reply",
    openapi_extra=json_body(ConversationMessageIn),
    responses=error_responses(*REPLY_ERRORS, errors.Forbidden, errors.ConversationNotFound),
)
async def send_message(
    conversation_id: str,
    _: AdminToken,
    token: RateLimitedToken,
    state: State,
    body: Annotated[ConversationMessageIn, Depends(body_of(ConversationMessageIn))],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> ConversationReplyOut:
    result = await state.replies.reply_in_conversation(token.account_id, conversation_id, body.message, idempotency_key)
    return ConversationReplyOut(
        message=result.reply, function_calls=result.function_calls, ai_disabled=result.ai_disabled
    )


@router.post(
    "/api/conversations/{conversation_id}/agent-messages",
    summary="Add a human operator's message to a conversation",
    openapi_extra=json_body(ConversationMessageIn),
    responses=error_responses(
        *BODY_ERRORS, errors.Unauthenticated, errors.Forbidden, errors.ConversationNotFound, errors.ServiceUnavailable
    ),
)
async def add_agent_message(
    conversation_id: str,
    token: AdminToken,
    state: State,
    body: Annotated[ConversationMessageIn, Depends(body_of(ConversationMessageIn))],
) -> AgentMessageOut:
    message = await state.conversations.add_agent_message(token.account_id, conversation_id, body.message)
    return AgentMessageOut(conversation_id=conversation_id, message=HistoryItem.of(message))


@router.post(
    "/api/conversations/{conversation_id}/agent-typing",
    summary="Tell the customer's open chat widget that a human agent is typing",
    description="Shown for a few seconds; send it again every 2 to 3 seconds while the agent goes on typing. "
    "Nothing is stored.",
    responses=error_responses(
        errors.Unauthenticated, errors.Forbidden, errors.ConversationNotFound, errors.ServiceUnavailable
    ),
)
async def agent_typing(conversation_id: str, token: AdminToken, state: State) -> AgentTypingOut:
    await state.conversations.tell_agent_typing(token.account_id, conversation_id)
    return AgentTypingOut(conversation_id=conversation_id)


@router.delete(
    "/api/conversations/{conversation_id}",
    summary="Erase a conversation and its messages (the customer's right to erasure)",
    description="Idempotent: a conversation that is not in your account (erased already, or never) answers the same.",
    responses=error_responses(errors.Unauthenticated, errors.Forbidden, errors.ServiceUnavailable),
)
async def delete_conversation(conversation_id: str, token: AdminToken, state: State) -> DeletedConversationOut:
    await state.conversations.erase(token.account_id, conversation_id)
    return DeletedConversationOut(conversation_id=conversation_id)
