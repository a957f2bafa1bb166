"""The errors a client of replyd can see. ``api/envelope.py`` renders each one as
``{"success": false, "error": <message>, "error_code": <code>}`` with its HTTP status.

    ReplydError                      500 INTERNAL_ERROR
    ├── InvalidJson                  400 INVALID_JSON
    ├── Unauthenticated              401 UNAUTHENTICATED
    ├── InsufficientBalance          402 INSUFFICIENT_BALANCE
    ├── Forbidden                    403 FORBIDDEN
    ├── NotFound                     404 NOT_FOUND
    │   ├── AssistantNotFound        404 ASSISTANT_NOT_FOUND
    │   └── ConversationNotFound     404 CONVERSATION_NOT_FOUND
    ├── MethodNotAllowed             405 METHOD_NOT_ALLOWED
    ├── RequestInProgress            409 REQUEST_IN_PROGRESS
    ├── AssignedElsewhere            409 CONVERSATION_ASSIGNED
    ├── AssistantInUse               409 ASSISTANT_IN_USE
    ├── EndpointDisabled             409 ENDPOINT_DISABLED
    ├── ChannelKeyMissing            409 CHANNEL_KEY_MISSING
    ├── PayloadTooLarge              413 PAYLOAD_TOO_LARGE
    ├── ValidationFailed             422 VALIDATION_ERROR
    ├── NestingTooDeep               422 NESTING_TOO_DEEP
    ├── IdempotencyKeyReused         422 IDEMPOTENCY_KEY_REUSED
    ├── RateLimited                  429 RATE_LIMITED
    ├── ProviderError                502 LLM_ERROR
    │   ├── ProviderRejected         502 LLM_REQUEST_REJECTED
    │   └── ProviderTimeout          504 LLM_TIMEOUT
    └── ServiceUnavailable           503 SERVICE_UNAVAILABLE
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from replyd.formats import WORDS


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule of a request field, listed in a 422's ``details``."""

    field: str
    message: str


class ReplydError(Exception):
    """Base for anything a client may see; its message is shown to the client as is."""

    status, error_code = 500, "INTERNAL_ERROR"
    retry_after_s: int | None = None
    """When set, the answer says in ``Retry-After`` when to try again."""
    headers: Mapping[str, str] = MappingProxyType({})
    """More headers for the answer."""

    def __init__(self, message: str = "Something went wrong on our side; please retry later.") -> None:
        super().__init__(message)
        self.message = message


class InvalidJson(ReplydError):
    status, error_code = 400, "INVALID_JSON"


class Unauthenticated(ReplydError):
    status, error_code = 401, "UNAUTHENTICATED"


class InsufficientBalance(ReplydError):
    status, error_code = 402, "INSUFFICIENT_BALANCE"


class Forbidden(ReplydError):
    status, error_code = 403, "FORBIDDEN"


class NotFound(ReplydError):
    status, error_code = 404, "NOT_FOUND"


class AssistantNotFound(NotFound):
    status, error_code = 404, "ASSISTANT_NOT_FOUND"


class ConversationNotFound(NotFound):
    status, error_code = 404, "CONVERSATION_NOT_FOUND"


class MethodNotAllowed(ReplydError):
    status, error_code = 405, "METHOD_NOT_ALLOWED"


class RequestInProgress(ReplydError):
    status, error_code = 409, "REQUEST_IN_PROGRESS"


class AssignedElsewhere(ReplydError):
    """The console's answer of an operator to a conversation another operator has."""

    status, error_code = 409, "CONVERSATION_ASSIGNED"


class AssistantInUse(ReplydError):
    status, error_code = 409, "ASSISTANT_IN_USE"


class EndpointDisabled(ReplydError):
    status, error_code = 409, "ENDPOINT_DISABLED"


class ChannelKeyMissing(ReplydError):
    status, error_code = 409, "CHANNEL_KEY_MISSING"

    def __init__(self) -> None:
        super().__init__(
            "Channels keep their credentials encrypted, and this server has no key: make one with "
            "`replyd channels keygen`, set it as REPLYD_CHANNEL_KEY and restart."
        )


class PayloadTooLarge(ReplydError):
    status, error_code = 413, "PAYLOAD_TOO_LARGE"


class ValidationFailed(ReplydError):
    status, error_code = 422, "VALIDATION_ERROR"

    def __init__(self, problems: list[FieldProblem]) -> None:
        fields = ", ".join(dict.fromkeys(p.field for p in problems))
        super().__init__(f"The request is invalid; check these fields: {fields}.")
        self.problems = problems


class NestingTooDeep(ReplydError):
    """JSON with objects and arrays nested deeper than replyd reads (``json_rules.MAX_DEPTH``)."""

    status, error_code = 422, "NESTING_TOO_DEEP"


class IdempotencyKeyReused(ReplydError):
    status, error_code = 422, "IDEMPOTENCY_KEY_REUSED"


class RateLimited(ReplydError):
    status, error_code = 429, "RATE_LIMITED"

    def __init__(self, retry_after_s: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"Rate limit exceeded; retry in {retry_after_s} seconds.")
        self.retry_after_s = retry_after_s
        self.headers = headers or {}


class ProviderError(ReplydError):
    status, error_code = 502, "LLM_ERROR"

    def __init__(self, message: str, *, is_retryable: bool = False) -> None:
        super().__init__(message)
        self.is_retryable = is_retryable
        """Whether the same call may succeed if tried again (connection errors, 429, 5xx)."""


class ProviderRejected(ProviderError):
    """The provider refused the request itself (HTTP 400: a prompt longer than the model's
    context; 401, 404: a wrong key or model name): sent again, it fails again."""

    status, error_code = 502, "LLM_REQUEST_REJECTED"


class ProviderTimeout(ProviderError):
    status, error_code = 504, "LLM_TIMEOUT"


class ServiceUnavailable(ReplydError):
    """A service replyd needs (Redis) does not answer; the request changed nothing."""

    status, error_code = 503, "SERVICE_UNAVAILABLE"

    def __init__(self, retry_after_s: int = 5) -> None:
        super().__init__(f"The service is temporarily unavailable; please retry in {retry_after_s} seconds.")
        self.retry_after_s = retry_after_s


def problems_from_pydantic(errors: Sequence[Any]) -> list[FieldProblem]:
    """Pydantic's error list (``ValidationError.errors()``) -> problems with dotted field names
    and messages written as sentences, for a ``ValidationFailed``."""
    problems = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        problems.append(FieldProblem(".".join(location) or "body", _message(error)))
    return problems


def _message(error: Any) -> str:
    """In plain words: a format by what it means (``formats.py``), never as its expression, and
    pydantic's "Input should be ..." as "Must be ..."."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind == "missing":
        return "This field is required."
    if kind == "extra_forbidden":
        return "This is not a field here; check its spelling."
    if kind == "string_pattern_mismatch":
        return f"Must be {WORDS.get(str(context.get('pattern')), 'in the documented format')}."
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "Must not be empty."
    message = str(error.get("msg", "Invalid value."))
    message = message.removeprefix("Value error, ")
    message = re.sub(r"^(Input|String|Value|List|Dictionary) should", "Must", message)
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")
