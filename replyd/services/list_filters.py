"""The conversation list's search and date range as every front-end takes them: the API's
query, the console's filter form and the command line's options read the same way and are
refused in the same words."""

from datetime import UTC, date, datetime, time, timedelta

from replyd.errors import FieldProblem, ValidationFailed
from replyd.store.conversations import ConversationFilter
from replyd.store.search import MAX_SEARCH_CHARS


def list_filter(
    *,
    assistant_id: int | None = None,
    type: str | None = None,
    customer_identifier: str | None = None,
    needs_human: bool = False,
    search: str | None = None,
    ai_enabled: bool | None = None,
    since: date | None = None,
    until: date | None = None,
    search_field: str = "q",
    assigned_token_id: int | None = None,
    unassigned: bool = False,
    label: str | None = None,
) -> ConversationFilter:
    """The list's filter from what a front-end was given; ``ValidationFailed`` (naming
    ``search_field`` for the search) for a search too long or days in the wrong order."""
    active_since, active_before = activity_between(since, until)
    return ConversationFilter(
        assistant_id=assistant_id,
        type=type,
        customer_identifier=customer_identifier,
        needs_human=needs_human,
        search=search_text(search, search_field),
        ai_enabled=ai_enabled,
        active_since=active_since,
        active_before=active_before,
        assigned_token_id=assigned_token_id,
        unassigned=unassigned,
        label=label,
    )


def search_text(text: str | None, field: str = "q") -> str | None:
    """What to search for: None when nothing (or only spaces) is given."""
    text = (text or "").strip()
    if len(text) > MAX_SEARCH_CHARS:
        problem = f"must be at most {MAX_SEARCH_CHARS} characters (it has {len(text)})"
        raise ValidationFailed([FieldProblem(field, problem)])
    if "\x00" in text:
        raise ValidationFailed([FieldProblem(field, "must be text without the NUL character")])
    return text or None


def activity_between(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC days ``since`` to ``until`` (both included, either open) as the moments a last
    activity may be at or after, and must be before."""
    if since is not None and until is not None and since > until:
        raise ValidationFailed([FieldProblem("since", "must not be after until")])
    start = datetime.combine(since, time(), UTC) if since else None
    end = datetime.combine(until, time(), UTC) + timedelta(days=1) if until and until < date.max else None
    return start, end
