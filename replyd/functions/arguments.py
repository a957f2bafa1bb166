"""The model's arguments for a call: JSON text, checked against the function's schema."""

import json
from typing import Any

from jsonschema import Draft202012Validator


class InvalidArguments(Exception):
    """The model's arguments are not a JSON object matching the function's schema."""


def parse_arguments(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    try:
        arguments = json.loads(text or "{}")
    except ValueError:
        raise InvalidArguments("arguments are not valid JSON") from None
    if not isinstance(arguments, dict):
        raise InvalidArguments("arguments must be a JSON object")
    problems = sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if problems:
        described = "; ".join(f"{'.'.join(map(str, p.absolute_path)) or 'arguments'}: {p.message}" for p in problems)
        raise InvalidArguments(f"invalid arguments: {described}")
    return arguments
