"""The assistant form: its fields, the posted text turned into the settings the API takes
(``AssistantConfig`` validates both alike)."""

import json
from dataclasses import dataclass
from typing import Any

from replyd import json_rules
from replyd.console.csrf import Form
from replyd.errors import FieldProblem, NestingTooDeep, ValidationFailed
from replyd.services.assistant_config import AssistantConfig
from replyd.services.views import AssistantView


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str
    """``text``, ``textarea``, ``lines`` (a list, one item per line), ``number``, ``checkbox`` or ``json``."""
    hint: str = ""
    step: str = "any"
    rows: int = 3
    """Height of a text area, in lines."""


FIELDS = [
    FormField("name", "Name", "text"),
    FormField("model", "Model", "text", "local:smollm2 (embedded) or openai:<model name>"),
    FormField("system_prompt", "System prompt", "textarea", "May use {{variables}} of the conversation.", rows=6),
    FormField("first_message", "First message", "textarea", "Opens widget and test chats; leave empty for none."),
    FormField("temperature", "Temperature (0 to 2)", "number"),
    FormField("max_reply_tokens", "Longest reply, tokens", "number", step="1"),
    FormField("context_budget_tokens", "Context budget, tokens", "number", step="1"),
    FormField("reply_fee", "Fee per reply", "number", step="0.000001"),
    FormField("input_price_per_million_tokens", "Per 1M prompt tokens", "number", step="0.000001"),
    FormField("output_price_per_million_tokens", "Per 1M completion tokens", "number", step="0.000001"),
    FormField(
        "functions",
        "Functions (JSON)",
        "json",
        'A list of webhooks the model may call: [{"name": ..., "description": ..., "parameters": {JSON Schema}, '
        '"url": ...}]. See docs/functions.md.',
        rows=10,
    ),
    FormField("handoff_enabled", "Offer handoff to a human", "checkbox", "The model may turn the AI off and say:"),
    FormField("handoff_message", "Handoff message", "textarea"),
    FormField(
        "handoff_triggers",
        "Handoff triggers",
        "lines",
        "One regular expression per line, matched case-insensitively anywhere in a customer's message: a match "
        "hands the conversation to a human (with the handoff message) before the model is called.",
    ),
    FormField(
        "resume_ai_after_s",
        "Resume the AI after, seconds",
        "number",
        "The AI comes back after this many seconds without a human message; empty: never.",
        step="1",
    ),
    FormField("max_function_rounds", "Most function rounds per reply", "number", step="1"),
    FormField(
        "summary_model",
        "Summary model",
        "text",
        "Writes rolling summaries of long conversations; empty: the assistant's own model.",
    ),
]
FIELD_NAMES = frozenset(f.name for f in FIELDS)
NUMBERS = {f.name for f in FIELDS if f.kind == "number"}
OPTIONAL = {"first_message", "summary_model", "resume_ai_after_s"}
"""Left empty, these are null (none), not an empty string or the default."""


def values_of(assistant: AssistantView | None) -> dict[str, str]:
    """The form's text for an assistant, or for a new one (the schema's defaults). Settings the
    form does not show are left out, so saving keeps them as they are."""
    config = assistant.config if assistant else AssistantConfig.model_construct(name="")
    data = config.model_dump(mode="json")
    values = {f.name: "" if data[f.name] is None else str(data[f.name]) for f in FIELDS}
    values["functions"] = json.dumps(data["functions"], indent=2) if data["functions"] else ""
    values["handoff_enabled"] = "on" if data["handoff_enabled"] else ""
    values["handoff_triggers"] = "\n".join(data["handoff_triggers"])
    return values


def values_from(form: Form) -> dict[str, str]:
    """The posted fields; an unchecked checkbox is not posted at all, and means off."""
    return {f.name: form.text(f.name) for f in FIELDS if form.has(f.name) or f.kind == "checkbox"}


def settings_from(values: dict[str, str]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The settings to save from the form's text; a number left empty keeps its default (or
    current) value, unless it is ``OPTIONAL``. Problems found before the schema sees anything
    (broken JSON) come back as a list."""
    settings: dict[str, Any] = {}
    for name, text in values.items():
        if name in NUMBERS:
            if text.strip():
                settings[name] = text.strip()
            elif name in OPTIONAL:
                settings[name] = None
        elif name == "handoff_enabled":
            settings[name] = bool(text)
        elif name == "handoff_triggers":
            settings[name] = [line.strip() for line in text.split("\n") if line.strip()]
        elif name in OPTIONAL:
            settings[name] = text or None
        elif name != "functions":
            settings[name] = text
    try:
        settings["functions"] = _functions_from(values["functions"])
    except ValidationFailed as broken:
        return settings, [*broken.problems, *_problems_of(settings)]  # the other fields' problems too, all at once
    return settings, []


def _functions_from(text: str) -> Any:
    """The functions field's JSON, read by the rules of every JSON replyd takes in."""
    if not text.strip():
        return []
    try:
        functions = json_rules.loads(text)
        json_rules.check(functions, "functions")
    except ValueError as exc:
        raise ValidationFailed([FieldProblem("functions", f"This is not valid JSON: {exc}.")]) from None
    except NestingTooDeep as exc:
        raise ValidationFailed([FieldProblem("functions", exc.message)]) from None
    return functions


def _problems_of(settings: dict[str, Any]) -> list[FieldProblem]:
    try:
        AssistantConfig.parse(settings)
    except ValidationFailed as failed:
        return failed.problems
    return []
