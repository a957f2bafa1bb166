"""Assistants: list, create, edit (validation problems shown beside their fields), and a
'try it' chat that talks to the assistant as a test customer. Writes go through the
engine's AssistantService, replies through the ReplyEngine, as the API's do."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.assistant_form import FIELD_NAMES, FIELDS, settings_from, values_from, values_of
from replyd.console.conversation_list import AUTHORS
from replyd.console.csrf import CheckedForm, message_problem, problems_by_field
from replyd.console.sessions import AdminSignedIn
from replyd.console.web import ConsoleRoute, render_page
from replyd.errors import AssistantInUse, NotFound, ReplydError, ValidationFailed
from replyd.services import Services
from replyd.services.operators import Operator
from replyd.services.views import MAX_ID, AssistantView, MessageView

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

AssistantId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/console/assistants")
async def assistant_list(request: Request, state: State, operator: AdminSignedIn, deleted: str = "") -> Response:
    context = {
        "active": "assistants",
        "assistants": await state.assistants.list(operator.account_id),
        "currency": (await state.accounts.get(operator.account_id)).currency,
        "deleted": bool(deleted),
    }
    return await render_page(request, state, operator, "assistants.html", context)


@router.get("/console/assistants/new")
async def new_assistant(request: Request, state: State, operator: AdminSignedIn) -> Response:
    return await _form_page(request, state, operator, None, values_of(None))


@router.post("/console/assistants")
async def create_assistant(request: Request, state: State, operator: AdminSignedIn, form: CheckedForm) -> Response:
    values = values_of(None) | values_from(form)
    settings, problems = settings_from(values)
    if not problems:
        try:
            assistant = await state.assistants.create(operator.account_id, settings)
        except ValidationFailed as failed:
            problems = failed.problems
        else:
            return RedirectResponse(f"/console/assistants/{assistant.id}?saved=1", 303)
    return await _form_page(
        request, state, operator, None, values, problems_by_field(problems, FIELD_NAMES), status=422
    )


@router.get("/console/assistants/{assistant_id}")
async def edit_assistant(
    request: Request, state: State, operator: AdminSignedIn, assistant_id: AssistantId, chat: str = "", saved: str = ""
) -> Response:
    assistant = await state.assistants.get(operator.account_id, assistant_id)
    return await _form_page(request, state, operator, assistant, values_of(assistant), chat_id=chat, saved=bool(saved))


@router.post("/console/assistants/{assistant_id}")
async def update_assistant(
    request: Request, state: State, operator: AdminSignedIn, form: CheckedForm, assistant_id: AssistantId
) -> Response:
    assistant = await state.assistants.get(operator.account_id, assistant_id)
    values = values_of(assistant) | values_from(form)
    settings, problems = settings_from(values)
    if not problems:
        try:
            await state.assistants.update(operator.account_id, assistant_id, settings)
        except ValidationFailed as failed:
            problems = failed.problems
        else:
            return RedirectResponse(f"/console/assistants/{assistant_id}?saved=1", 303)
    return await _form_page(
        request, state, operator, assistant, values, problems_by_field(problems, FIELD_NAMES), status=422
    )


@router.post("/console/assistants/{assistant_id}/delete")
async def delete_assistant(
    request: Request, state: State, operator: AdminSignedIn, form: CheckedForm, assistant_id: AssistantId
) -> Response:
    """As the API's DELETE: one with conversations stays unless they are to be erased with it."""
    assistant = await state.assistants.get(operator.account_id, assistant_id)
    try:
        await state.assistants.delete(operator.account_id, assistant_id, force=form.has("erase_conversations"))
    except AssistantInUse:
        problem = "It has conversations: tick the box to erase them with it, or keep the assistant."
        values = values_of(assistant)
        return await _form_page(request, state, operator, assistant, values, delete_error=problem, status=409)
    return RedirectResponse("/console/assistants?deleted=1", 303)


@router.post("/console/assistants/{assistant_id}/try")
async def try_assistant(
    request: Request, state: State, operator: AdminSignedIn, form: CheckedForm, assistant_id: AssistantId
) -> Response:
    """One customer message in a test chat (started on the first), answered by the same
    pipeline as every reply: rate limit, balance, functions, charging."""
    assistant = await state.assistants.get(operator.account_id, assistant_id)
    chat_id = await _own_test_chat(state, operator, assistant_id, form.text("chat"))
    message = form.text("message")
    try:
        state.conversations.check_message(message)
        await _count_against_rate_limit(state, operator)
        if chat_id is None:
            started = await state.conversations.start(operator.account_id, assistant_id, "test", None)
            chat_id = started.conversation.id
        await state.replies.reply_in_conversation(operator.account_id, chat_id, message)
    except ValidationFailed as failed:
        problem, status = message_problem(failed), 422
    except ReplydError as error:  # no balance, rate limited, the model failed: said beside the chat
        problem, status = error.message, error.status
    else:
        return RedirectResponse(f"/console/assistants/{assistant_id}?chat={chat_id}#try", 303)
    return await _form_page(
        request,
        state,
        operator,
        assistant,
        values_of(assistant),
        chat_id=chat_id or "",
        try_error=problem,
        status=status,
    )


async def _count_against_rate_limit(state: Services, operator: Operator) -> None:
    """The token's reply limit applies here as to the API's test-chat messages."""
    token = await state.accounts.token(operator.token_id)
    await state.reply_limits.count(operator.token_id, token.rate_limit if token else None)


async def _own_test_chat(state: Services, operator: Operator, assistant_id: int, chat_id: str) -> str | None:
    """The test chat with this id, if it is one of this assistant's; anything else starts anew."""
    messages = await _chat_messages(state, operator, assistant_id, chat_id)
    return chat_id if messages is not None else None


async def _chat_messages(
    state: Services, operator: Operator, assistant_id: int, chat_id: str
) -> list[MessageView] | None:
    if not chat_id:
        return None
    try:
        view = await state.conversations.get(operator.account_id, chat_id)
    except NotFound:
        return None
    if view.conversation.assistant_id != assistant_id or view.conversation.type != "test":
        return None
    return view.messages


async def _form_page(
    request: Request,
    state: Services,
    operator: Operator,
    assistant: AssistantView | None,
    values: dict[str, str],
    errors: dict[str, list[str]] | None = None,
    *,
    chat_id: str = "",
    saved: bool = False,
    try_error: str | None = None,
    delete_error: str | None = None,
    status: int = 200,
) -> Response:
    chat_messages = await _chat_messages(state, operator, assistant.id, chat_id) if assistant else None
    context: dict[str, Any] = {
        "active": "assistants",
        "assistant": assistant,
        "title": assistant.name if assistant else "New assistant",
        "action": f"/console/assistants/{assistant.id}" if assistant else "/console/assistants",
        "fields": FIELDS,
        "values": values,
        "errors": errors or {},
        "saved": saved,
        "chat_id": chat_id if chat_messages is not None else "",
        "chat_messages": chat_messages or [],
        "try_error": try_error,
        "delete_error": delete_error,
        "authors": AUTHORS,
        "max_message_chars": state.settings.max_message_chars,
    }
    return await render_page(request, state, operator, "assistant.html", context, status)
