"""OpenAPI helpers: routes that read their body themselves still document it, and every
route lists the errors it can answer with in replyd's envelope."""

from typing import Any

from pydantic import BaseModel, ConfigDict, JsonValue

from replyd import errors
from replyd.api.schemas import ErrorOut
from replyd.errors import ReplydError


def example(**fields: JsonValue) -> ConfigDict:
    """``model_config`` giving a response model its OpenAPI example."""
    return ConfigDict(json_schema_extra={"example": fields})


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the request body."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


BODY_ERRORS: tuple[type[ReplydError], ...] = (
    errors.InvalidJson,
    errors.PayloadTooLarge,
    errors.ValidationFailed,
    errors.NestingTooDeep,
)
"""What reading a JSON body may answer (``api/validation.py``), on every route that takes one."""

REPLY_ERRORS: tuple[type[ReplydError], ...] = (
    *BODY_ERRORS,
    errors.Unauthenticated,
    errors.InsufficientBalance,
    errors.RequestInProgress,
    errors.IdempotencyKeyReused,
    errors.RateLimited,
    errors.ProviderError,
    errors.ProviderRejected,
    errors.ProviderTimeout,
    errors.ServiceUnavailable,
)
"""What any request through the reply pipeline may answer (generate-reply, widget messages)."""


def error_responses(*errors: type[ReplydError]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for FastAPI: each status with the error codes it may carry."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        codes = by_status.setdefault(error.status, [])
        if error.error_code not in codes:
            codes.append(error.error_code)
    return {
        status: {"model": ErrorOut, "description": "error_code: " + " or ".join(codes)}
        for status, codes in sorted(by_status.items())
    }
