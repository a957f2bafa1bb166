"""The model's arguments for a call: JSON text, checked against the function's schema."""

from typing import Any

from jsonschema import Draft202012Validator

from replyd import json_rules
from replyd.errors import NestingTooDeep, ValidationFailed


class InvalidArguments(Exception):
    """The model's arguments are not a JSON object matching the function's schema."""


def read_arguments(text: str) -> Any:
    """The JSON the model wrote, if replyd could keep it as any JSON it takes in (``json_rules``)."""
    try:
        arguments = json_rules.loads(text or "{}")
        json_rules.check(arguments)
    except ValueError:
        raise InvalidArguments("arguments are not valid JSON") from None
    except NestingTooDeep:
        raise InvalidArguments(f"arguments are nested deeper than {json_rules.MAX_DEPTH} levels") from None
    except ValidationFailed as exc:
        raise InvalidArguments(
            "invalid arguments: " + "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        ) from None
    return arguments


def parse_arguments(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    arguments = read_arguments(text)
    if not isinstance(arguments, dict):
        raise InvalidArguments("arguments must be a JSON object")
    problems = sorted(Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if problems:
        described = "; ".join(f"{'.'.join(map(str, p.absolute_path)) or 'arguments'}: {p.message}" for p in problems)
        raise InvalidArguments(f"invalid arguments: {described}")
    return arguments
