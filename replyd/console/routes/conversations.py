"""The inbox's pages: the conversation list (``conversation_list.py``) and beside it the
conversation view, whole or as fragments for the page's script: read, take over, answer as a
human agent, hand back, notes and labels. Every read and write goes through the engine's ConversationService, as
the API's do, so the two cannot disagree; another account's conversation is a 404."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import fields
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.conversation_list import AUTHORS, ListQuery, customer_label, list_address, list_context
from replyd.console.csrf import CheckedForm, message_problem
from replyd.console.live import fingerprint, read_activity
from replyd.console.sessions import SignedIn
from replyd.console.web import ConsoleRoute, render, render_page
from replyd.errors import AssignedElsewhere, AssistantNotFound, ValidationFailed
from replyd.services import Services
from replyd.services.conversations import HISTORY_LIMIT, HistoryPage
from replyd.services.operators import Operator

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

DELIVERY_LABELS = {
    "pending": "Sending…",
    "accepted": "Sent to the platform",
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Not delivered",
}
"""What the operator reads under a message sent on the conversation's channel."""


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


@router.get("/console/conversations")
async def conversation_list(request: Request, state: State, operator: SignedIn, query: Listed) -> Response:
    context = await list_context(state, operator, query)
    context |= {"active": "conversations", "conversation": None}
    return await render_page(request, state, operator, "conversations.html", context)


@router.get("/console/conversations/rows")
async def conversation_rows(request: Request, state: State, operator: SignedIn, query: Listed) -> Response:
    """The list alone, which the page's script fetches when the event stream says so."""
    return render(request, "_conversation_rows.html", await list_context(state, operator, query, query.open[:36]))


@router.get("/console/conversations/{conversation_id}")
async def conversation_page(
    request: Request, state: State, operator: SignedIn, conversation_id: str, query: Listed, older: str = ""
) -> Response:
    """The list (as ``query`` filters it) beside the conversation's latest messages, or with
    ``older`` (a cursor) the page before them."""
    return await _conversation_response(request, state, operator, conversation_id, query, older=older)


@router.get("/console/conversations/{conversation_id}/pane")
async def conversation_pane(
    request: Request, state: State, operator: SignedIn, conversation_id: str, query: Listed
) -> Response:
    """The conversation alone, which the page's script swaps in beside the list."""
    context = await _pane_context(state, operator, conversation_id, "", list_address(query, operator), {})
    return render(request, "_conversation_pane.html", context)


@router.get("/console/conversations/{conversation_id}/live")
async def conversation_fragment(
    request: Request, state: State, operator: SignedIn, conversation_id: str, older: str = ""
) -> Response:
    """The part of the view that changes: state, history, variables, usage; then its notes,
    which the page's script puts in their place."""
    context = await _view_context(state, operator, conversation_id, older)
    context |= {"notes": await state.notes.newest(operator.account_id, conversation_id), "with_notes": True}
    return render(request, "_conversation_live.html", context)


async def _conversation_response(
    request: Request,
    state: State,
    operator: Operator,
    conversation_id: str,
    query: ListQuery,
    status: int = 200,
    older: str = "",
    sent_back: Mapping[str, str | None] | None = None,
) -> Response:
    """The page: the list (as ``query`` filters it) and the conversation; ``sent_back``: a form
    sent back with its problem (see ``SENT_BACK``)."""
    seen = fingerprint(await read_activity(state, operator.account_id))  # before reading, as for the list
    pane = await _pane_context(state, operator, conversation_id, older, list_address(query, operator), sent_back or {})
    context = await list_context(state, operator, query, conversation_id)  # after: the pane marked it read
    context |= pane | {"active": "conversations", "fingerprint": seen}
    return await render_page(request, state, operator, "conversations.html", context, status)


async def _pane_context(
    state: Services,
    operator: Operator,
    conversation_id: str,
    older: str,
    query: str,
    sent_back: Mapping[str, str | None],
) -> dict[str, Any]:
    """What ``_conversation_pane.html`` shows; ``query``: the list's address, to lead back to."""
    context = await _view_context(state, operator, conversation_id, older)
    context |= SENT_BACK
    context.update(sent_back)
    context |= {
        "notes": await state.notes.newest(operator.account_id, conversation_id),
        "labels": (await state.labels.of([conversation_id])).get(conversation_id, []),
        "canned": await state.canned_replies.filled_for(context["conversation"]),
        "max_message_chars": state.settings.max_message_chars,
        "query": query,
        "with_notes": False,
    }
    return context


async def _view_context(state: Services, operator: Operator, conversation_id: str, older: str) -> dict[str, Any]:
    """A page of ``HISTORY_LIMIT`` messages: the latest, or those before ``older``. A long
    conversation is read from its end, a page at a time, never whole (20,000 messages made a
    9 MB page). Shown its latest messages, the operator has read the conversation."""
    try:
        page = await state.conversations.history(operator.account_id, conversation_id, HISTORY_LIMIT, older or None)
    except ValidationFailed:  # a cursor edited by hand: the latest messages
        older = ""
        page = await state.conversations.history(operator.account_id, conversation_id, HISTORY_LIMIT, None)
    conversation = page.conversation
    if not older and page.messages:
        await state.reads.mark(conversation.id, operator.token_id, page.messages[0].id)
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


def _back_to(request: Request, conversation_id: str, anchor: str = "") -> RedirectResponse:
    """After a form: the conversation again, beside the list as its page showed it."""
    kept = _list_sent_from(request, conversation_id)
    path = f"/console/conversations/{conversation_id}"
    return RedirectResponse(path + ("?" + urlencode(kept) if kept else "") + anchor, 303)


def _list_sent_from(request: Request, conversation_id: str) -> list[tuple[str, str]]:
    """The list's filters on the conversation's page a form was sent from. They are in that
    page's address, which the browser sends as the referrer (the console's referrer policy
    sends it to the console alone); an earlier page of messages is left."""
    sent_from = urlsplit(request.headers.get("referer", ""))
    if sent_from.path != f"/console/conversations/{conversation_id}":
        return []
    return [(k, v) for k, v in parse_qsl(sent_from.query) if k != "older"]


async def _sent_back(
    request: Request,
    state: Services,
    operator: Operator,
    conversation_id: str,
    status: int,
    sent_back: Mapping[str, str | None],
) -> Response:
    """A refused form: its page again, beside the list as it showed it, with the form as sent
    and its problem (see ``SENT_BACK``)."""
    names = {field.name for field in fields(ListQuery)}
    listed = ListQuery(**{k: v for k, v in _list_sent_from(request, conversation_id) if k in names})
    return await _conversation_response(request, state, operator, conversation_id, listed, status, sent_back=sent_back)


@router.post("/console/conversations/{conversation_id}/take-over")
async def take_over(
    request: Request, state: State, operator: SignedIn, _: CheckedForm, conversation_id: str
) -> Response:
    await state.conversations.set_ai_enabled(operator.account_id, conversation_id, False, operator.who)
    return _back_to(request, conversation_id)


@router.post("/console/conversations/{conversation_id}/hand-back")
async def hand_back(
    request: Request, state: State, operator: SignedIn, _: CheckedForm, conversation_id: str
) -> Response:
    await state.conversations.set_ai_enabled(operator.account_id, conversation_id, True, operator.who)
    return _back_to(request, conversation_id)


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
        return await _sent_back(request, state, operator, conversation_id, 409, {"draft": text, "error": taken.message})
    except ValidationFailed as failed:
        sent_back = {"draft": text, "error": message_problem(failed)}
        return await _sent_back(request, state, operator, conversation_id, 422, sent_back)
    return _back_to(request, conversation_id, f"#message-{message.id}")


@router.post("/console/conversations/{conversation_id}/assign")
async def assign_to_me(
    request: Request, state: State, operator: SignedIn, _: CheckedForm, conversation_id: str
) -> Response:
    """The conversation becomes the operator's: only they answer it from the console."""
    await state.conversations.assign(operator.account_id, conversation_id, operator.token_id)
    return _back_to(request, conversation_id)


@router.post("/console/conversations/{conversation_id}/unassign")
async def unassign(
    request: Request, state: State, operator: SignedIn, _: CheckedForm, conversation_id: str
) -> Response:
    await state.conversations.assign(operator.account_id, conversation_id, None)
    return _back_to(request, conversation_id)


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
        return await _sent_back(request, state, operator, conversation_id, 422, sent_back)
    return _back_to(request, conversation_id, f"#{what}s")


@router.post("/console/conversations/{conversation_id}/labels/remove")
async def remove_label(
    request: Request, state: State, operator: SignedIn, form: CheckedForm, conversation_id: str
) -> Response:
    await state.labels.remove(operator.account_id, conversation_id, form.text("label"))
    return _back_to(request, conversation_id, "#labels")


@router.post("/console/conversations/{conversation_id}/typing")
async def agent_typing(state: State, operator: SignedIn, _: CheckedForm, conversation_id: str) -> Response:
    """The operator is writing a reply: the customer's open chat widget shows so."""
    await state.conversations.tell_agent_typing(operator.account_id, conversation_id)
    return Response(status_code=204)
