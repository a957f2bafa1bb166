"""The conversation list and the conversation view: read, take over, answer as a human
agent, hand back. Every read and write goes through the engine's ConversationService, as
the API's do, so the two cannot disagree; another account's conversation is a 404."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.csrf import CheckedForm, message_problem
from replyd.console.live import fingerprint, read_activity
from replyd.console.sessions import SignedIn
from replyd.console.web import ConsoleRoute, render, render_page
from replyd.errors import AssignedElsewhere, AssistantNotFound, ValidationFailed
from replyd.services import Services
from replyd.services.conversations import HISTORY_LIMIT, HistoryPage
from replyd.services.list_filters import list_filter
from replyd.services.operators import Operator
from replyd.services.views import MAX_ID, ConversationListing, MessageView
from replyd.store.conversations import ConversationFilter
from replyd.store.search import MAX_SEARCH_CHARS

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
    """The list's search, filters and page, as its address carries them (and the filter form
    sends them). Anything malformed is read as not given: an address is typed by hand."""

    q: str = ""
    assistant: str = ""
    type: str = ""
    ai: str = ""
    """``on`` or ``off``."""
    since: str = ""
    until: str = ""
    """UTC days, as a date field sends them (``2026-12-03``)."""
    needs_human: str = ""
    """``1``: only handoffs no human has answered yet."""
    assigned: str = ""
    """``me``: assigned to the signed-in operator; ``nobody``: to no one."""
    label: str = ""
    cursor: str = ""


TYPES = {"api": "Generate-reply (API)", "widget": "Widget", "test": "Test chat"}
AI_STATES = {"on": True, "off": False}
ASSIGNED = {"me": "To me", "nobody": "To nobody"}


Listed = Annotated[ListQuery, Depends()]


SENT_BACK: dict[str, str | None] = {
    "draft": "",
    "error": None,
    "note": "",
    "note_error": None,
    "label": "",
    "label_error": None,
}
"""The conversation page's three forms (answer, note, label), each as sent and its problem."""


@dataclass(frozen=True)
class Row:
    summary: ConversationListing
    customer: str
    last: MessageView | None
    labels: list[str]


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


def _filter_of(query: ListQuery, operator: Operator) -> tuple[ConversationFilter, dict[str, str]]:
    """What the list shows, and the filters as the next page's address repeats them."""
    assistant_id = int(query.assistant) if query.assistant.isdigit() and 1 <= int(query.assistant) <= MAX_ID else None
    search = query.q.replace("\x00", "").strip()[:MAX_SEARCH_CHARS]
    type = query.type if query.type in TYPES else None
    ai_enabled = AI_STATES.get(query.ai)
    since, until = _day(query.since), _day(query.until)
    if since and until and since > until:  # given the wrong way round
        since, until = until, since
    needs_human = query.needs_human == "1"
    assigned = query.assigned if query.assigned in ASSIGNED else ""
    label = " ".join(query.label.split()).lower()[:40]
    given = {
        "q": search,
        "assistant": str(assistant_id or ""),
        "type": type or "",
        "ai": query.ai if ai_enabled is not None else "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "needs_human": "1" if needs_human else "",
        "assigned": assigned,
        "label": label,
    }
    where = list_filter(
        assistant_id=assistant_id,
        type=type,
        needs_human=needs_human,
        search=search,
        ai_enabled=ai_enabled,
        since=since,
        until=until,
        assigned_token_id=operator.token_id if assigned == "me" else None,
        unassigned=assigned == "nobody",
        label=label or None,
    )
    return where, {k: v for k, v in given.items() if v}


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


async def _list_context(state: Services, operator: Operator, query: ListQuery) -> dict[str, Any]:
    account_id = operator.account_id
    seen = fingerprint(await read_activity(state, account_id))  # before reading: a change in between is re-sent
    where, filters = _filter_of(query, operator)
    cursor = query.cursor
    try:
        page = await state.conversations.page(account_id, where, PAGE_SIZE, cursor[:1000] or None)
    except ValidationFailed:  # a cursor edited by hand, or from an older replyd: the first page
        cursor = ""
        page = await state.conversations.page(account_id, where, PAGE_SIZE, None)
    listed = [s.conversation.id for s in page.rows]
    last = await state.conversations.last_messages(listed)
    labelled = await state.labels.of(listed)
    rows = [
        Row(
            s,
            customer_label(s.conversation.customer_identifier, s.conversation.type, s.conversation.id),
            last.get(s.conversation.id),
            labelled.get(s.conversation.id, []),
        )
        for s in page.rows
    ]
    address = filters | ({"cursor": cursor} if cursor else {})
    return {
        "operator": operator,
        "rows": rows,
        "assistants": await state.assistants.list(account_id),
        "types": TYPES,
        "assigned_choices": ASSIGNED,
        "assigned": filters.get("assigned", ""),
        "labels_in_use": await state.labels.in_use(account_id),
        "max_search_chars": MAX_SEARCH_CHARS,
        "where": where,
        "filters": filters,
        "is_filtered": bool(filters),
        "next_query": "?" + urlencode(filters | {"cursor": page.next_cursor}) if page.next_cursor else None,
        "prev_query": "?" + urlencode(filters | {"cursor": page.prev_cursor}) if page.prev_cursor else None,
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
    status: int = 200,
    older: str = "",
    **sent_back: str | None,
) -> Response:
    """The page; ``sent_back``: a form sent back with its problem (see ``SENT_BACK``)."""
    seen = fingerprint(await read_activity(state, operator.account_id))  # before reading, as for the list
    context = await _view_context(state, operator, conversation_id, older)
    context |= SENT_BACK | sent_back
    context |= {
        "active": "conversations",
        "notes": await state.notes.newest(operator.account_id, conversation_id),
        "labels": (await state.labels.of([conversation_id])).get(conversation_id, []),
        "canned": await state.canned_replies.filled_for(context["conversation"]),
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
        "assignee": await _assignee(state, operator, conversation.assigned_token_id),
    }


async def _assignee(state: Services, operator: Operator, token_id: int | None) -> str | None:
    """Who handles the conversation, as the page names them; None: nobody."""
    if token_id is None:
        return None
    names = {token.id: token.name for token in await state.accounts.tokens(operator.account_id)}
    return names.get(token_id) or f"console token {token_id}"


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
    await state.conversations.set_ai_enabled(operator.account_id, conversation_id, False, operator.who)
    return RedirectResponse(f"/console/conversations/{conversation_id}", 303)


@router.post("/console/conversations/{conversation_id}/hand-back")
async def hand_back(state: State, operator: SignedIn, _: CheckedForm, conversation_id: str) -> Response:
    await state.conversations.set_ai_enabled(operator.account_id, conversation_id, True, operator.who)
    return RedirectResponse(f"/console/conversations/{conversation_id}", 303)


@router.post("/console/conversations/{conversation_id}/messages")
async def send_agent_message(
    request: Request, state: State, operator: SignedIn, form: CheckedForm, conversation_id: str
) -> Response:
    """Stored as the agent-messages endpoint stores it: in order, never charged."""
    text = form.text("message")
    try:
        message = await state.conversations.add_agent_message(
            operator.account_id, conversation_id, text, operator.token_id
        )
    except AssignedElsewhere as taken:
        return await _conversation_response(
            request, state, operator, conversation_id, 409, draft=text, error=taken.message
        )
    except ValidationFailed as failed:
        problem = message_problem(failed)
        return await _conversation_response(request, state, operator, conversation_id, 422, draft=text, error=problem)
    return RedirectResponse(f"/console/conversations/{message.conversation_id}#message-{message.id}", 303)


@router.post("/console/conversations/{conversation_id}/assign")
async def assign_to_me(state: State, operator: SignedIn, _: CheckedForm, conversation_id: str) -> Response:
    """The conversation becomes the operator's: only they answer it from the console."""
    await state.conversations.assign(operator.account_id, conversation_id, operator.token_id)
    return RedirectResponse(f"/console/conversations/{conversation_id}", 303)


@router.post("/console/conversations/{conversation_id}/unassign")
async def unassign(state: State, operator: SignedIn, _: CheckedForm, conversation_id: str) -> Response:
    await state.conversations.assign(operator.account_id, conversation_id, None)
    return RedirectResponse(f"/console/conversations/{conversation_id}", 303)


@router.post("/console/conversations/{conversation_id}/notes")
async def add_note(
    request: Request, state: State, operator: SignedIn, form: CheckedForm, conversation_id: str
) -> Response:
    """A private note for the other operators: never sent to the customer, never shown to the model."""

    async def add(text: str) -> object:
        return await state.notes.add(operator.account_id, conversation_id, operator.who, text)

    return await _added_or_sent_back(request, state, operator, conversation_id, form.text("note"), "note", add)


@router.post("/console/conversations/{conversation_id}/labels")
async def add_label(
    request: Request, state: State, operator: SignedIn, form: CheckedForm, conversation_id: str
) -> Response:
    async def add(label: str) -> object:
        return await state.labels.add(operator.account_id, conversation_id, label)

    return await _added_or_sent_back(request, state, operator, conversation_id, form.text("label"), "label", add)


async def _added_or_sent_back(
    request: Request,
    state: Services,
    operator: Operator,
    conversation_id: str,
    text: str,
    what: str,
    add: Callable[[str], Awaitable[object]],
) -> Response:
    """``add(text)`` done: back to the page's ``what`` section; refused: the page, with the text
    in its field and the problem beside it (``what`` names the form, see ``SENT_BACK``)."""
    try:
        await add(text)
    except ValidationFailed as failed:
        sent_back = {what: text, f"{what}_error": message_problem(failed, what)}
        return await _conversation_response(request, state, operator, conversation_id, 422, **sent_back)
    return RedirectResponse(f"/console/conversations/{conversation_id}#{what}s", 303)


@router.post("/console/conversations/{conversation_id}/labels/remove")
async def remove_label(state: State, operator: SignedIn, form: CheckedForm, conversation_id: str) -> Response:
    await state.labels.remove(operator.account_id, conversation_id, form.text("label"))
    return RedirectResponse(f"/console/conversations/{conversation_id}#labels", 303)


@router.post("/console/conversations/{conversation_id}/typing")
async def agent_typing(state: State, operator: SignedIn, _: CheckedForm, conversation_id: str) -> Response:
    """The operator is writing a reply: the customer's open chat widget shows so."""
    await state.conversations.tell_agent_typing(operator.account_id, conversation_id)
    return Response(status_code=204)
