"""The conversation list as the console shows it (the inbox's left pane): the search and
filters its address carries, its views with their unread counts, and its rows, each marked
unread or open. The routes in ``routes/conversations.py`` render it alone or beside a
conversation."""

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from replyd.console.live import fingerprint, read_activity
from replyd.errors import ValidationFailed
from replyd.services import Services
from replyd.services.list_filters import list_filter
from replyd.services.operators import Operator
from replyd.services.reads import UNREAD_CAP
from replyd.services.views import MAX_ID, ConversationListing, MessageView
from replyd.store.conversations import ConversationFilter
from replyd.store.search import MAX_SEARCH_CHARS

PAGE_SIZE = 50
AUTHORS = {"customer": "Customer", "ai": "AI", "agent": "Agent (human)"}


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
    open: str = ""
    """The conversation open beside the list, whose row is marked."""


TYPES = {"api": "Generate-reply (API)", "widget": "Widget", "test": "Test chat"}
AI_STATES = {"on": True, "off": False}
ASSIGNED = {"me": "To me", "nobody": "To nobody"}


@dataclass(frozen=True)
class Row:
    summary: ConversationListing
    customer: str
    last: MessageView | None
    labels: list[str]
    is_unread: bool
    """It has a message the signed-in operator was not shown."""


@dataclass(frozen=True)
class ViewTab:
    """One of the views above the list, with its unread count."""

    name: str
    title: str
    query: str
    unread: int
    is_current: bool

    @property
    def count_text(self) -> str:
        return f"{UNREAD_CAP - 1}+" if self.unread >= UNREAD_CAP else str(self.unread)


VIEWS = {
    "needs_human": ("Needs a human", ListQuery(needs_human="1")),
    "mine": ("Mine", ListQuery(assigned="me")),
    "unassigned": ("Unassigned", ListQuery(assigned="nobody")),
    "all": ("All", ListQuery()),
}
"""The list's views: each a filter of the list (the same the filter form sets)."""


def customer_label(customer_identifier: str | None, type: str, conversation_id: str) -> str:
    if customer_identifier:
        return customer_identifier
    return f"{type.capitalize()} chat {conversation_id[:8]}"


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


async def list_context(state: Services, operator: Operator, query: ListQuery, open_id: str = "") -> dict[str, Any]:
    """The list, ``open_id``'s row marked as the one open beside it."""
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
    marks = await state.reads.marks(listed, operator.token_id)
    rows = [
        Row(
            s,
            customer_label(s.conversation.customer_identifier, s.conversation.type, s.conversation.id),
            last.get(s.conversation.id),
            labelled.get(s.conversation.id, []),
            _is_unread(last.get(s.conversation.id), marks.get(s.conversation.id)),
        )
        for s in page.rows
    ]
    address = filters | ({"cursor": cursor} if cursor else {})
    rows_address = address | ({"open": open_id} if open_id else {})
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
        "query": _query(address),
        "rows_src": "/console/conversations/rows" + _query(rows_address),
        "open_id": open_id,
        "views": await _views(state, operator, filters),
        "fingerprint": seen,
        "authors": AUTHORS,
    }


def _is_unread(last: MessageView | None, read_up_to: int | None) -> bool:
    return last is not None and last.id > (read_up_to or 0)


async def _views(state: Services, operator: Operator, filters: dict[str, str]) -> list[ViewTab]:
    """The views with their unread counts; the one the list shows (its filters exactly) is current."""
    of_view = {name: _filter_of(view, operator) for name, (_, view) in VIEWS.items()}
    wheres = {name: where for name, (where, _) in of_view.items()}
    counts = await state.reads.unread_counts(operator.account_id, operator.token_id, wheres)
    tabs = []
    for name, (title, _) in VIEWS.items():
        given = of_view[name][1]
        tabs.append(ViewTab(name, title, _query(given), counts[name], given == filters))
    return tabs


def _query(params: dict[str, str]) -> str:
    """``params`` as an address's query, with its ``?``; nothing when there are none."""
    return "?" + urlencode(params) if params else ""


def list_address(query: ListQuery, operator: Operator) -> str:
    """The list's address as ``query`` gives it: where the pane's way back leads."""
    filters = _filter_of(query, operator)[1] | ({"cursor": query.cursor[:1000]} if query.cursor else {})
    return _query(filters)
