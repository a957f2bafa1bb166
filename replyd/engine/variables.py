"""Conversation variables: a flat JSON object merged from each request and rendered into the
system prompt as plain text."""

import json
import re
from collections.abc import Mapping
from datetime import datetime

Scalar = str | int | float | bool | None

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


def merge_variables(current: Mapping[str, Scalar], update: Mapping[str, Scalar] | None) -> dict[str, Scalar]:
    """New keys are added, existing ones overwritten, and a null value removes its key."""
    merged = dict(current)
    for key, value in (update or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def as_text(value: Scalar) -> str:
    """Strings as they are; numbers and booleans as JSON writes them (``true``, ``2.5``)."""
    return value if isinstance(value, str) else json.dumps(value)


def builtin_variables(customer_identifier: str, conversation_id: str, now: datetime) -> dict[str, Scalar]:
    """``now`` is precise to the minute, so a prompt that uses it stays the same for a minute
    (and a provider's prompt cache can still hit)."""
    return {
        "customer_identifier": customer_identifier,
        "conversation_id": conversation_id,
        "now": now.strftime("%Y-%m-%d %H:%M UTC"),
    }


def render_prompt(template: str, variables: Mapping[str, Scalar]) -> str:
    """Replace each ``{{name}}`` by its value in one pass: a value is never read as a template
    itself, and an unknown name renders empty."""
    return PLACEHOLDER.sub(lambda match: as_text(variables.get(match.group(1), "")), template)
