"""Channels: the account's assistants on WhatsApp, Twilio SMS and Telegram. The list (with each
channel's inbound URL, to enter on the platform's side), adding one (the platform's secret
shown once), removing one. Every read and write goes through the ChannelService, as the API's
and the command line's do; another account's channel is a 404."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.channels.kinds import KINDS
from replyd.console.csrf import CheckedForm, Form
from replyd.console.sessions import AdminSignedIn
from replyd.console.web import ConsoleRoute, render_page
from replyd.errors import ChannelKeyMissing, NotFound, ValidationFailed
from replyd.services import Services
from replyd.services.channels import NewChannel
from replyd.services.operators import Operator
from replyd.services.views import MAX_ID

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
CREDENTIAL_FIELDS = {name: list(kind.credentials.model_fields) for name, kind in KINDS.items()}
"""Each kind's credential fields, named ``<kind>.<field>`` in the form: one form holds every
kind's, and only the chosen kind's are read."""
FORM_FIELDS = {"kind", "assistant_id"} | {
    f"{kind}.{field}" for kind, fields in CREDENTIAL_FIELDS.items() for field in fields
}


@router.get("/console/channels")
async def channel_list(request: Request, state: State, operator: AdminSignedIn, removed: str = "") -> Response:
    return await _list_page(request, state, operator, removed=bool(removed))


@router.post("/console/channels")
async def add_channel(request: Request, state: State, operator: AdminSignedIn, form: CheckedForm) -> Response:
    """Answers with the page itself: the platform's secret is shown on it once."""
    kind = form.text("kind")
    credentials = {field: form.text(f"{kind}.{field}").strip() for field in CREDENTIAL_FIELDS.get(kind, [])}
    try:
        assistant_id = int(form.text("assistant_id"))
        added = await state.channels.add(operator.account_id, assistant_id, kind, credentials)
    except ValueError:
        return await _list_page(request, state, operator, form=form, errors={"assistant_id": ["choose an assistant"]})
    except ChannelKeyMissing as missing:
        return await _list_page(request, state, operator, form=form, errors={"form": [missing.message]}, status=409)
    except ValidationFailed as failed:
        errors: dict[str, list[str]] = {}
        for problem in failed.problems:
            field = problem.field.replace("credentials.", f"{kind}.", 1)
            errors.setdefault(field if field in FORM_FIELDS else "form", []).append(problem.message)
        return await _list_page(request, state, operator, form=form, errors=errors, status=422)
    return await _list_page(request, state, operator, added=added)


@router.post("/console/channels/{channel_id}/remove")
async def remove_channel(state: State, operator: AdminSignedIn, _: CheckedForm, channel_id: Id) -> Response:
    if not await state.channels.remove(operator.account_id, channel_id):
        raise NotFound(f"There is no channel {channel_id}.")
    return RedirectResponse("/console/channels?removed=1", 303)


async def _list_page(
    request: Request,
    state: Services,
    operator: Operator,
    *,
    added: NewChannel | None = None,
    removed: bool = False,
    form: Form | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    """The list and the add form; ``form`` and ``errors`` refill a refused form (never its secrets)."""
    assistants = await state.assistants.list(operator.account_id)
    context: dict[str, Any] = {
        "active": "channels",
        "channels": await state.channels.channels(operator.account_id),
        "assistant_names": {a.id: a.name for a in assistants},
        "assistants": assistants,
        "kinds": KINDS,
        "credential_fields": CREDENTIAL_FIELDS,
        "base_url": state.settings.public_url or str(request.base_url).rstrip("/"),
        "knows_public_url": state.settings.public_url is not None,
        "added": added,
        "removed": removed,
        "chosen_kind": form.text("kind") if form else "telegram",
        "chosen_assistant": form.text("assistant_id") if form else "",
        "errors": errors or {},
    }
    return await render_page(request, state, operator, "channels.html", context, status)
