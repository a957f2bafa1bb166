"""Like httpx's mapping test: every error class replyd can raise has a unique code from the spec."""

import pathlib
import re

from replyd import errors

SPEC_CODES = {
    "INVALID_JSON",
    "UNAUTHENTICATED",
    "INSUFFICIENT_BALANCE",
    "ASSISTANT_NOT_FOUND",
    "REQUEST_IN_PROGRESS",
    "PAYLOAD_TOO_LARGE",
    "VALIDATION_ERROR",
    "IDEMPOTENCY_KEY_REUSED",
    "RATE_LIMITED",
    "LLM_ERROR",
    "LLM_TIMEOUT",
    "INTERNAL_ERROR",
}
OWN_CODES = {
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "FORBIDDEN",
    "CONVERSATION_NOT_FOUND",
    "ASSISTANT_IN_USE",
    "CONVERSATION_ASSIGNED",
    "ENDPOINT_DISABLED",
    "CHANNEL_KEY_MISSING",
    "NESTING_TOO_DEEP",
    "LLM_REQUEST_REJECTED",
    "SERVICE_UNAVAILABLE",
}
"""replyd's own codes, for the API around generate-reply and for paths that do not exist."""


def all_error_classes() -> list[type[errors.ReplydError]]:
    found = [errors.ReplydError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


def test_every_error_has_a_unique_code_from_the_spec() -> None:
    codes = [cls.error_code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))
    assert set(codes) == SPEC_CODES | OWN_CODES


def test_every_spec_code_has_the_spec_status() -> None:
    spec = pathlib.Path(__file__).parents[2] / "shared" / "SPEC.md"
    by_code = {cls.error_code: cls.status for cls in all_error_classes()}
    if spec.exists():
        for status, codes in re.findall(r"^\| (\d{3}) \| ([A-Z_ /]+) \|", spec.read_text(), re.M):
            for code in codes.split(" / "):
                assert by_code[code.strip()] == int(status), code


def test_the_tree_drawn_in_the_module_docstring_names_every_class() -> None:
    assert errors.__doc__ is not None
    for cls in all_error_classes():
        assert cls.__name__ in errors.__doc__
