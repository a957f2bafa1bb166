"""Functions are validated when an assistant is saved."""

from typing import Any

import pytest
from pydantic import ValidationError

from replyd.functions.spec import MAX_SCHEMA_DEPTH
from replyd.services.assistant_config import AssistantConfig

GOOD = {
    "name": "book_appointment",
    "description": "Book an appointment",
    "parameters": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
    "url": "https://crm.example.com/hooks/book",
}


def config(*functions: dict[str, Any]) -> AssistantConfig:
    return AssistantConfig.model_validate({"name": "a", "functions": list(functions)})


def test_a_good_function_is_kept_with_defaults() -> None:
    function = config(GOOD).functions[0]
    assert (function.method, function.timeout_s, function.headers) == ("POST", 10, {})
    assert config(GOOD).to_columns()["functions"][0]["url"] == "https://crm.example.com/hooks/book"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"name": "book appointment"}, "pattern"),
        ({"name": "x" * 65}, "pattern"),
        ({"name": "handoff_to_human"}, "built in"),
        ({"parameters": {"type": "array"}}, "object"),
        ({"parameters": {"type": "object", "properties": {"a": {"type": "nonsense"}}}}, "not a valid JSON Schema"),
        ({"url": "ftp://crm.example.com/x"}, "URL scheme"),
        ({"url": "not a url"}, "URL"),
        ({"method": "DELETE"}, "POST"),
        ({"timeout_s": 0}, "greater than 0"),
        ({"headers": {"Webhook-Signature": "v1,forged"}}, "sets these headers itself"),
        ({"headers": {"webhook-id": "msg_1"}}, "sets these headers itself"),
        ({"headers": {"WEBHOOK-TIMESTAMP": "0"}}, "sets these headers itself"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_a_bad_function_is_refused_with_a_reason(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        config(GOOD | change)


def test_duplicate_function_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="unique"):
        config(GOOD, GOOD | {"url": "https://other.example.com"})


def schema_of_depth(levels: int) -> dict[str, Any]:
    """A valid object schema with ``levels`` levels of JSON objects and arrays in all."""
    inner: dict[str, Any] = {"type": "string"}
    for _ in range(levels - 3):
        inner = {"type": "array", "items": inner}
    return {"type": "object", "properties": {"a": inner}}


def test_parameters_nested_up_to_32_levels_are_kept() -> None:
    assert config(GOOD | {"parameters": schema_of_depth(MAX_SCHEMA_DEPTH)}).functions[0].parameters


@pytest.mark.parametrize("levels", [MAX_SCHEMA_DEPTH + 1, 100, 900])
def test_parameters_nested_deeper_are_refused_before_jsonschema_recurses(levels: int) -> None:
    with pytest.raises(ValidationError, match="more than 32 levels deep") as refused:
        config(GOOD | {"parameters": schema_of_depth(levels)})
    assert [e["loc"] for e in refused.value.errors()] == [("functions", 0, "parameters")]


@pytest.mark.parametrize(
    ("headers", "field", "complaint"),
    [
        ({"X-Key": "schlüssel"}, "X-Key", "printable ASCII"),
        ({"X-Key": "€"}, "X-Key", "printable ASCII"),
        ({"X-Key": "a\r\nX-Injected: 1"}, "X-Key", "printable ASCII"),
        ({"X-Key": "\x7f"}, "X-Key", "printable ASCII"),
        ({"X-Key": "\x00"}, "X-Key", "printable ASCII"),
        ({"X-Key": " padded"}, "X-Key", "printable ASCII"),
        ({"X-Key": "padded\t"}, "X-Key", "printable ASCII"),
        ({"X Key": "v"}, "X Key", "header name"),
        ({"Schlüssel": "v"}, "Schlüssel", "header name"),
        ({"X-Key:": "v"}, "X-Key:", "header name"),
        ({"": "v"}, "", "header name"),
    ],
)
def test_a_header_no_http_request_can_carry_is_refused_naming_it(
    headers: dict[str, str], field: str, complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint) as refused:
        config(GOOD | {"headers": headers})
    assert [e["loc"][:4] for e in refused.value.errors()] == [("functions", 0, "headers", field)]


def test_header_values_may_hold_inner_spaces_and_tabs_or_be_empty() -> None:
    headers = {"Authorization": "Bearer abc", "X-Tabbed": "a\tb", "X-Empty": "", "X-Symbols": "!#$%&'*+.^_`|~-"}
    assert config(GOOD | {"headers": headers}).functions[0].headers == headers
