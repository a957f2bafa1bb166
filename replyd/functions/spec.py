"""How an assistant declares a function, validated when the assistant is saved."""

import re
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from replyd.errors import FieldProblem, ValidationFailed, problems_from_pydantic
from replyd.formats import FUNCTION_NAME
from replyd.functions.handoff import HANDOFF_NAME
from replyd.functions.signing import SIGNATURE_HEADERS
from replyd.json_rules import depth_exceeds

MAX_SCHEMA_DEPTH = 32
"""Most levels of objects and arrays in ``parameters``: more than any function's arguments
need, and few enough for jsonschema, which checks a schema recursively, at every reply."""

HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
"""An HTTP field name (RFC 9110's token)."""
HEADER_VALUE = re.compile(r"([\x21-\x7e]([\t\x20-\x7e]*[\x21-\x7e])?)?")
"""A value every HTTP library sends as is: printable ASCII, with spaces and tabs only inside."""


def _header_name(name: str) -> str:
    if not HEADER_NAME.fullmatch(name):
        raise ValueError("a header name is 1 to 256 of the letters, digits and !#$%&'*+.^_`|~- (no spaces)")
    return name


def _header_value(value: str) -> str:
    if not HEADER_VALUE.fullmatch(value):
        raise ValueError("a header value must be printable ASCII, with spaces or tabs only between other characters")
    return value


HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, AfterValidator(_header_value)]


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=FUNCTION_NAME.pattern)
    description: str = Field(default="", max_length=4000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """A JSON Schema of type object; the model's arguments are validated against it."""
    url: HttpUrl
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    """Static headers sent with every call, e.g. an API key of the receiving system; checked
    here, since an HTTP library refuses (or raises on) a value it cannot send."""
    timeout_s: float = Field(default=10, gt=0, le=120)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name == HANDOFF_NAME:
            raise ValueError(f"{HANDOFF_NAME} is built in; enable it with handoff_enabled instead")
        return name

    @field_validator("parameters")
    @classmethod
    def _valid_object_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        if depth_exceeds(schema, MAX_SCHEMA_DEPTH):
            raise ValueError(f"parameters must not nest objects and arrays more than {MAX_SCHEMA_DEPTH} levels deep")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"parameters is not a valid JSON Schema: {exc.message}") from None
        if schema.get("type") != "object":
            raise ValueError('parameters must be a JSON Schema with "type": "object"')
        return schema

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        reserved = {"host", "content-length", "content-type", *SIGNATURE_HEADERS}
        clash = sorted(name for name in headers if name.lower() in reserved)
        if clash:
            raise ValueError(f"replyd sets these headers itself: {', '.join(clash)}")
        return headers


def check_unique_names(functions: list[FunctionSpec]) -> list[FunctionSpec]:
    names = [f.name for f in functions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"function names must be unique; repeated: {', '.join(duplicates)}")
    return functions


_FUNCTIONS = TypeAdapter(list[FunctionSpec])
"""Validates a saved list at once, so a problem's place names the function's index."""


def stored_functions(assistant_id: int, stored: list[dict[str, Any]]) -> list[FunctionSpec]:
    """An assistant's functions as saved. One saved under older, looser rules (a header value
    HTTP cannot carry, a schema nested too deep) refuses the reply cleanly, naming the field
    to fix, instead of failing somewhere inside the call."""
    try:
        return _FUNCTIONS.validate_python(stored)
    except ValidationError as exc:
        problems = problems_from_pydantic(exc.errors())
        advice = f"Assistant {assistant_id}'s saved functions break today's rules; update the assistant: "
        raise ValidationFailed(
            [FieldProblem(f"assistant.functions.{p.field}", advice + p.message) for p in problems]
        ) from None


def as_saved(stored: dict[str, Any]) -> FunctionSpec:
    """A saved function as it is, unchecked: to show it (and let it be fixed) even when it
    breaks today's rules."""
    return FunctionSpec.model_construct(**(stored | {"url": HttpUrl(stored["url"])}))
