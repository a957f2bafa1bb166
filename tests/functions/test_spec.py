"""Functions are validated when an assistant is saved."""

from typing import Any

import pytest
from pydantic import ValidationError

from replyd.engine.assistant_config import AssistantConfig
from replyd.functions.spec import MAX_SCHEMA_DEPTH

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
        ({"headers": {"X-Replyd-Signature": "forged"}}, "sets these headers itself"),
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
