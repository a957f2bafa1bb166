"""Reading JSON request bodies ourselves, so that the order of checks is the spec's
(authenticate, rate-limit, then validate) and every failure speaks in replyd's envelope."""

from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from replyd import json_rules
from replyd.errors import FieldProblem, InvalidJson, PayloadTooLarge, ValidationFailed, problems_from_pydantic

M = TypeVar("M", bound=BaseModel)


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object, refusing one larger than ``max_bytes`` without reading it all,
    and one that breaks ``json_rules`` (NUL, lone surrogates, nesting) before any model sees it."""
    return json_rules.loads_object(await read_body(request, max_bytes))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body (for a signature over its bytes), refusing one larger than ``max_bytes``
    without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidJson("The request body was cut off.") from None
    return b"".join(chunks)


async def read_form(request: Request, max_bytes: int) -> dict[str, str]:
    """A form-encoded body (``application/x-www-form-urlencoded``, as Twilio posts) as its
    fields, the last of a repeated one winning; refused if it is not UTF-8 or holds a NUL,
    which no database keeps."""
    problem = ValidationFailed([FieldProblem("body", "must be a form of UTF-8 text without NUL characters")])
    try:
        text = (await read_body(request, max_bytes)).decode()
    except UnicodeDecodeError:
        raise problem from None
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if any("\x00" in name or "\x00" in value for name, value in fields.items()):
        raise problem
    return fields


def validate_model(model: type[M], data: dict[str, Any], context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ValidationFailed(problems_from_pydantic(exc.errors())) from None
