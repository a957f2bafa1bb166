"""An assistant's chat widget: its settings (allowed origins, look, words) with a live preview
drawn by the widget's own script, the snippet to paste into a site, and the account's widget
secret for signed identities. Saved through the WidgetService, checked by ``WidgetConfig``."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from replyd.app_state import State
from replyd.console.csrf import CheckedForm, problems_by_field
from replyd.console.routes.assistants import AssistantId
from replyd.console.sessions import AdminSignedIn
from replyd.console.web import ConsoleRoute, render_page
from replyd.errors import ValidationFailed
from replyd.services import Services
from replyd.services.operators import Operator
from replyd.services.widget_config import STRING_NAMES, STRINGS, WidgetConfig

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

FIELDS = ("enabled", "allowed_origins", "color", "title", "greeting", "position", "language", "strings")


@router.get("/console/assistants/{assistant_id}/widget")
async def widget_page(
    request: Request, state: State, operator: AdminSignedIn, assistant_id: AssistantId, saved: str = ""
) -> Response:
    widget = await state.widgets.settings(operator.account_id, assistant_id)
    config = widget.config if widget else WidgetConfig()
    return await _page(request, state, operator, assistant_id, _values(config), saved=bool(saved))


@router.post("/console/assistants/{assistant_id}/widget")
async def save_widget(
    request: Request, state: State, operator: AdminSignedIn, form: CheckedForm, assistant_id: AssistantId
) -> Response:
    values = {name: form.text(name) for name in (*FIELDS[1:-1], *(f"string_{n}" for n in STRING_NAMES))}
    values["enabled"] = "on" if form.has("enabled") else ""
    try:
        config = WidgetConfig.parse(_settings(values))
        await state.widgets.save(operator.account_id, assistant_id, config)
    except ValidationFailed as failed:
        errors = problems_by_field(failed.problems, FIELDS)
        return await _page(request, state, operator, assistant_id, values, errors, status=422)
    return RedirectResponse(f"/console/assistants/{assistant_id}/widget?saved=1", 303)


def _values(config: WidgetConfig) -> dict[str, str]:
    """The form's fields as text."""
    values = config.model_dump(exclude={"enabled", "allowed_origins", "strings"})
    values |= {f"string_{name}": config.strings.get(name, "") for name in STRING_NAMES}
    return values | {"enabled": "on" if config.enabled else "", "allowed_origins": "\n".join(config.allowed_origins)}


def _settings(values: dict[str, str]) -> dict[str, Any]:
    """The form's text as settings for ``WidgetConfig`` to check."""
    strings = {name: values[f"string_{name}"] for name in STRING_NAMES if values[f"string_{name}"].strip()}
    plain = {name: values[name] for name in ("color", "title", "greeting", "position", "language")}
    origins = [line.strip() for line in values["allowed_origins"].splitlines() if line.strip()]
    return plain | {"enabled": bool(values["enabled"]), "allowed_origins": origins, "strings": strings}


async def _page(
    request: Request,
    state: Services,
    operator: Operator,
    assistant_id: int,
    values: dict[str, str],
    errors: dict[str, list[str]] | None = None,
    *,
    saved: bool = False,
    status: int = 200,
) -> Response:
    assistant = await state.assistants.get(operator.account_id, assistant_id)
    widget = await state.widgets.settings(operator.account_id, assistant_id)
    context: dict[str, Any] = {
        "active": "assistants",
        "assistant": assistant,
        "widget": widget,
        "values": values,
        "errors": errors or {},
        "saved": saved,
        "strings": STRINGS,
        "string_names": STRING_NAMES,
        "languages": {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"},
        "base_url": str(request.base_url).rstrip("/"),
        "secret": await state.widgets.secret(operator.account_id) if widget else None,
    }
    return await render_page(request, state, operator, "widget.html", context, status)
