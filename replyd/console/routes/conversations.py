"""The conversation list and the conversation view: read, take over, answer as a human
agent, hand back. Every read and write goes through the engine's ConversationService, as
the API's do, so the two cannot disagree; another account's conversation is a 404."""

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.csrf import CheckedForm, message_problem
from replyd.console.live import fingerprint, read_activity
from replyd.console.sessions import SignedIn
from replyd.console.web import ConsoleRoute, render, render_page
from replyd.errors import AssistantNotFound, ValidationFailed
from replyd.services import Services
from replyd.services.conversations import HISTORY_LIMIT, HistoryPage
from replyd.services.operators import Operator
from replyd.services.views import MAX_ID, ConversationListing, MessageView
from replyd.store.conversations import ConversationFilter

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 50
AUTHORS = {"customer": "Customer", "ai": "AI", "agent": "Agent (human)"}
DELIVERY_LABELS = {
    "pending": "Sending…",
    "accepted": "Sent to the platform",
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Not delivered",
}
"""What the operator reads under a message sent on the conversation's channel."""


@dataclass(frozen=True)
class ListQuery:
    """The list's filters and page, as its address carries them (and the filter form sends them)."""

    assistant: str = ""
    customer: str = ""
    needs_human: str = ""
    """``1``: only handoffs no human has answered yet."""
    cursor: str = ""


Listed = Annotated[ListQuery, Depends()]


@dataclass(frozen=True)
class Row:
    summary: ConversationListing
    customer: str
    last: MessageView | None


def customer_label(customer_identifier: str | None, type: str, conversation_id: str) -> str:
    if customer_identifier:
        return customer_identifier
    return f"{type.capitalize()} chat {conversation_id[:8]}"


@router.get("/console/conversations")
async def conversation_list(request: Request, state: State, operator: SignedIn, query: Listed) -> Response:
    context = await _list_context(state, operator, query)
    return await render_page(request, state, operator, "conversations.html", context | {"active": "conversations"})


@router.get("/console/conversations/rows")
async def conversation_rows(request: Request, state: State, operator: SignedIn, query: Listed) -> Response:
    """The list alone, which the page's script fetches when the event stream says so."""
    return render(request, "_conversation_rows.html", await _list_context(state, operator, query))


def _filter_of(query: ListQuery) -> tuple[ConversationFilter, dict[str, str]]:
    """What the list shows, and the filters as the next page's address repeats them."""
    assistant_id = int(query.assistant) if query.assistant.isdigit() and 1 <= int(query.assistant) <= MAX_ID else None
    customer = query.customer.replace("\x00", "").strip()[:255]
    needs_human = query.needs_human == "1"
    given = {"assistant": str(assistant_id or ""), "customer": customer, "needs_human": "1" if needs_human else ""}
    return ConversationFilter(assistant_id, None, customer or None, needs_human), {k: v for k, v in given.items() if v}


async def _list_context(state: Services, operator: Operator, query: ListQuery) -> dict[str, Any]:
    account_id = operator.account_id
    seen = fingerprint(await read_activity(state, account_id))  # before reading: a change in between is re-sent
    where, filters = _filter_of(query)
    cursor = query.cursor
    try:
        page = await state.conversations.page(account_id, where, PAGE_SIZE, cursor[:1000] or None)
    except ValidationFailed:  # a cursor edited by hand, or from an older replyd: the first page
        cursor = ""
        page = await state.conversations.page(account_id, where, PAGE_SIZE, None)
    last = await state.conversations.last_messages([s.conversation.id for s in page.rows])
    rows = [
        Row(
            s,
            customer_label(s.conversation.customer_identifier, s.conversation.type, s.conversation.id),
            last.get(s.conversation.id),
        )
        for s in page.rows
    ]
    next_cursor = page.next_cursor
    address = filters | ({"cursor": cursor} if cursor else {})
    return {
        "operator": operator,
        "rows": rows,
        "assistants": await state.assistants.list(account_id),
        "where": where,
        "is_filtered": bool(filters),
        "next_cursor": next_cursor,
        "next_query": "?" + urlencode(filters | {"cursor": next_cursor or ""}),
        "query": "?" + urlencode(address) if address else "",
        "fingerprint": seen,
        "authors": AUTHORS,
    }


@router.get("/console/conversations/{conversation_id}")
async def conversation_page(
    request: Request, state: State, operator: SignedIn, conversation_id: str, older: str = ""
) -> Response:
    """The conversation's latest messages, or with ``older`` (a cursor) the page before it."""
    return await _conversation_response(request, state, operator, conversation_id, older=older)


@router.get("/console/conversations/{conversation_id}/live")
async def conversation_fragment(
    request: Request, state: State, operator: SignedIn, conversation_id: str, older: str = ""
) -> Response:
    """The part of the view that changes: state, history, variables, usage."""
    return render(request, "_conversation_live.html", await _view_context(state, operator, conversation_id, older))


async def _conversation_response(
    request: Request,
    state: State,
    operator: Operator,
    conversation_id: str,
    draft: str = "",
    error: str | None = None,
    status: int = 200,
    older: str = "",
) -> Response:
    seen = fingerprint(await read_activity(state, operator.account_id))  # before reading, as for the list
    context = await _view_context(state, operator, conversation_id, older)
    context |= {
        "active": "conversations",
        "draft": draft,
        "error": error,
        "max_message_chars": state.settings.max_message_chars,
        "fingerprint": seen,
    }
    return await render_page(request, state, operator, "conversation.html", context, status)


async def _view_context(state: Services, operator: Operator, conversation_id: str, older: str) -> dict[str, Any]:
    """A page of ``HISTORY_LIMIT`` messages: the latest, or those before ``older``. A long
    conversation is read from its end, a page at a time, never whole (20,000 messages made a
    9 MB page)."""
    try:
        page = await state.conversations.history(operator.account_id, conversation_id, HISTORY_LIMIT, older or None)
    except ValidationFailed:  # a cursor edited by hand: the latest messages
        older = ""
        page = await state.conversations.history(operator.account_id, conversation_id, HISTORY_LIMIT, None)
    conversation = page.conversation
    try:
        assistant_name = (await state.assistants.get(operator.account_id, conversation.assistant_id)).name
    except AssistantNotFound:  # deleted while we looked
        assistant_name = f"Assistant {conversation.assistant_id}"
    return await _messages_context(state, operator, page) | {
        "operator": operator,
        "conversation": conversation,
        "older": older,
        "assistant_name": assistant_name,
        "customer": customer_label(conversation.customer_identifier, conversation.type, conversation.id),
        "totals": await state.conversations.reply_totals(conversation.id),
    }


async def _messages_context(state: Services, operator: Operator, page: HistoryPage) -> dict[str, Any]:
    """What ``_messages.html`` shows of a page of messages, and the cursor to those before it."""
    return {
        "messages": page.messages[::-1],
        "earlier": page.next_cursor,
        "deliveries": page.deliveries,
        "delivery_labels": DELIVERY_LABELS,
        "currency": (await state.accounts.get(operator.account_id)).currency,
        "authors": AUTHORS,
    }


@router.get("/console/conversations/{conversation_id}/earlier")
async def earlier_messages(
    request: Request, state: State, operator: SignedIn, conversation_id: str, cursor: str = ""
) -> Response:
    """The messages before ``cursor`` (a page's ``earlier``), which the page's script puts above
    the ones it shows as the operator scrolls up: the API's cursor paging, a page at a time."""
    page = await state.conversations.history(operator.account_id, conversation_id, HISTORY_LIMIT, cursor[:1000] or None)
    return render(request, "_earlier_messages.html", await _messages_context(state, operator, page))


@router.post("/console/conversations/{conversation_id}/take-over")
async def take_over(state: State, operator: SignedIn, _: CheckedForm, conversation_id: str) -> Response:
    await state.conversations.set_ai_enabled(operator.account_id, conversation_id, False, _who(operator))
    return RedirectResponse(f"/console/conversations/{conversation_id}", 303)


@router.post("/console/conversations/{conversation_id}/hand-back")
async def hand_back(state: State, operator: SignedIn, _: CheckedForm, conversation_id: str) -> Response:
    await state.conversations.set_ai_enabled(operator.account_id, conversation_id, True, _who(operator))
    return RedirectResponse(f"/console/conversations/{conversation_id}", 303)


@router.post("/console/conversations/{conversation_id}/messages")
async def send_agent_message(
    request: Request, state: State, operator: SignedIn, form: CheckedForm, conversation_id: str
) -> Response:
    """Stored as the agent-messages endpoint stores it: in order, never charged."""
    text = form.text("message")
    try:
        message = await state.conversations.add_agent_message(operator.account_id, conversation_id, text)
    except ValidationFailed as failed:
        problem = message_problem(failed)
        return await _conversation_response(request, state, operator, conversation_id, text, problem, 422)
    return RedirectResponse(f"/console/conversations/{message.conversation_id}#message-{message.id}", 303)


def _who(operator: Operator) -> str:
    """The operator, as ``conversation.ai_disabled`` and ``ai_enabled`` events tell it."""
    return f"console token {operator.token_id}"
