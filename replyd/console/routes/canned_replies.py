"""Canned replies: the account's list, adding one, deleting one. Operators pick them in a
conversation's answer field, with the conversation's variables filled in."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.csrf import CheckedForm, problems_by_field
from replyd.console.sessions import SignedIn
from replyd.console.web import ConsoleRoute, render_page
from replyd.errors import ValidationFailed
from replyd.services import Services
from replyd.services.operators import Operator
from replyd.services.views import MAX_ID

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
FORM_FIELDS = ("title", "text")


@router.get("/console/canned-replies")
async def canned_reply_list(request: Request, state: State, operator: SignedIn) -> Response:
    return await _list_page(request, state, operator)


@router.post("/console/canned-replies")
async def add_canned_reply(request: Request, state: State, operator: SignedIn, form: CheckedForm) -> Response:
    title, text = form.text("title"), form.text("text")
    try:
        await state.canned_replies.add(operator.account_id, title, text)
    except ValidationFailed as failed:
        errors = problems_by_field(failed.problems, FORM_FIELDS)
        return await _list_page(request, state, operator, {"title": title, "text": text}, errors, 422)
    return RedirectResponse("/console/canned-replies", 303)


@router.post("/console/canned-replies/{reply_id}/delete")
async def delete_canned_reply(state: State, operator: SignedIn, _: CheckedForm, reply_id: Id) -> Response:
    await state.canned_replies.delete(operator.account_id, reply_id)
    return RedirectResponse("/console/canned-replies", 303)


async def _list_page(
    request: Request,
    state: Services,
    operator: Operator,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "active": "canned-replies",
        "replies": await state.canned_replies.all(operator.account_id),
        "form": form or {"title": "", "text": ""},
        "errors": errors or {},
        "max_message_chars": state.settings.max_message_chars,
    }
    return await render_page(request, state, operator, "canned_replies.html", context, status)
