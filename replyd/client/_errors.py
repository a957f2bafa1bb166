"""What the client raises. Catch at the level you need, as with httpx's exceptions:

    ReplydClientError                      anything the client raises
    ├── ReplydConnectionError              no answer: connect, read or protocol failure
    │   └── ReplydTimeoutError             no answer in time
    ├── InvalidResponseError               a success answer the client cannot read
    └── ReplydAPIError                     the server answered with an error envelope
        ├── InvalidJSONError               400 INVALID_JSON
        ├── UnauthenticatedError           401 UNAUTHENTICATED
        ├── InsufficientBalanceError       402 INSUFFICIENT_BALANCE
        ├── ForbiddenError                 403 FORBIDDEN
        ├── NotFoundError                  404 NOT_FOUND
        │   ├── AssistantNotFoundError     404 ASSISTANT_NOT_FOUND
        │   └── ConversationNotFoundError  404 CONVERSATION_NOT_FOUND
        ├── MethodNotAllowedError          405 METHOD_NOT_ALLOWED
        ├── RequestInProgressError         409 REQUEST_IN_PROGRESS
        ├── ConversationAssignedError      409 CONVERSATION_ASSIGNED
        ├── AssistantInUseError            409 ASSISTANT_IN_USE
        ├── EndpointDisabledError          409 ENDPOINT_DISABLED
        ├── ChannelKeyMissingError         409 CHANNEL_KEY_MISSING
        ├── PayloadTooLargeError           413 PAYLOAD_TOO_LARGE
        ├── ValidationFailedError          422 VALIDATION_ERROR
        ├── NestingTooDeepError            422 NESTING_TOO_DEEP
        ├── IdempotencyKeyReusedError      422 IDEMPOTENCY_KEY_REUSED
        ├── RateLimitedError               429 RATE_LIMITED
        ├── InternalServerError            500 INTERNAL_ERROR
        ├── LLMError                       502 LLM_ERROR
        │   ├── LLMRequestRejectedError    502 LLM_REQUEST_REJECTED
        │   └── LLMTimeoutError            504 LLM_TIMEOUT
        └── ServiceUnavailableError        503 SERVICE_UNAVAILABLE

An error code this client does not know (a newer server, or a gateway's own error page)
raises ``ReplydAPIError`` itself, with ``error_code`` as sent or ``HTTP_<status>``.
"""

import email.utils
import math
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class FieldError:
    """One broken rule of a request field, from a 422's ``details``."""

    field: str
    message: str


class ReplydClientError(Exception):
    """Base of everything the client raises."""


class ReplydConnectionError(ReplydClientError):
    """The server could not be reached or did not answer; ``__cause__`` is httpx's error."""


class ReplydTimeoutError(ReplydConnectionError):
    """The server did not answer within the timeout or the call's deadline."""


class InvalidResponseError(ReplydClientError):
    """A success answer that is not the JSON this client expects (a proxy's page, a version mismatch)."""


class ReplydAPIError(ReplydClientError):
    """The server refused the request; ``error_code`` tells why, ``message`` says it for humans."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        details: list[FieldError] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details = details or []
        self.retry_after_s = retry_after_s
        """From the Retry-After header, when the server sent one."""


class InvalidJSONError(ReplydAPIError):
    """The body was not a JSON object."""


class UnauthenticatedError(ReplydAPIError):
    """The token is missing, unknown or revoked."""


class InsufficientBalanceError(ReplydAPIError):
    """The account's balance is too low to pay for a reply; top it up."""


class ForbiddenError(ReplydAPIError):
    """The token's scope does not allow this (a replies-only token on an admin endpoint)."""


class NotFoundError(ReplydAPIError):
    """Nothing at this path, or nothing of this account with this id."""


class AssistantNotFoundError(NotFoundError):
    """No such assistant in the token's account."""


class ConversationNotFoundError(NotFoundError):
    """No such conversation in the token's account."""


class MethodNotAllowedError(ReplydAPIError):
    """The path does not take this HTTP method."""


class RequestInProgressError(ReplydAPIError):
    """A request with the same Idempotency-Key is still running; the client retries it."""


class ConversationAssignedError(ReplydAPIError):
    """Another operator handles the conversation (the console's assignment)."""


class AssistantInUseError(ReplydAPIError):
    """The assistant still has conversations; delete it with ``force=True`` to erase them too."""


class EndpointDisabledError(ReplydAPIError):
    """The event endpoint is disabled; enable it before replaying its deliveries."""


class ChannelKeyMissingError(ReplydAPIError):
    """The server has no key to seal channels' credentials with; its operator must set one."""


class PayloadTooLargeError(ReplydAPIError):
    """The body is over the server's size limit."""


class ValidationFailedError(ReplydAPIError):
    """Some fields break their rules; ``details`` lists them."""


class NestingTooDeepError(ReplydAPIError):
    """The body nests objects and arrays deeper than the server reads (64 levels)."""


class IdempotencyKeyReusedError(ReplydAPIError):
    """The Idempotency-Key was already used with a different body."""


class RateLimitedError(ReplydAPIError):
    """Over the token's rate limit; ``retry_after_s`` says when to try again."""


class InternalServerError(ReplydAPIError):
    """The server failed; nothing was stored or charged."""


class LLMError(ReplydAPIError):
    """The assistant's model provider failed; nothing was stored or charged."""


class LLMRequestRejectedError(LLMError):
    """The model provider refused the request itself (say, a conversation longer than the
    model's context); sending it again would fail again, so the client never retries it."""


class LLMTimeoutError(LLMError):
    """The assistant's model provider did not answer in time; nothing was stored or charged."""


class ServiceUnavailableError(ReplydAPIError):
    """A service the server needs (Redis) is out of reach; nothing was stored or charged.
    ``retry_after_s`` says when to try again."""


ERROR_CLASSES: dict[str, type[ReplydAPIError]] = {
    "INVALID_JSON": InvalidJSONError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "INSUFFICIENT_BALANCE": InsufficientBalanceError,
    "FORBIDDEN": ForbiddenError,
    "NOT_FOUND": NotFoundError,
    "ASSISTANT_NOT_FOUND": AssistantNotFoundError,
    "CONVERSATION_NOT_FOUND": ConversationNotFoundError,
    "METHOD_NOT_ALLOWED": MethodNotAllowedError,
    "REQUEST_IN_PROGRESS": RequestInProgressError,
    "ASSISTANT_IN_USE": AssistantInUseError,
    "CONVERSATION_ASSIGNED": ConversationAssignedError,
    "ENDPOINT_DISABLED": EndpointDisabledError,
    "CHANNEL_KEY_MISSING": ChannelKeyMissingError,
    "PAYLOAD_TOO_LARGE": PayloadTooLargeError,
    "VALIDATION_ERROR": ValidationFailedError,
    "NESTING_TOO_DEEP": NestingTooDeepError,
    "IDEMPOTENCY_KEY_REUSED": IdempotencyKeyReusedError,
    "RATE_LIMITED": RateLimitedError,
    "INTERNAL_ERROR": InternalServerError,
    "LLM_ERROR": LLMError,
    "LLM_REQUEST_REJECTED": LLMRequestRejectedError,
    "LLM_TIMEOUT": LLMTimeoutError,
    "SERVICE_UNAVAILABLE": ServiceUnavailableError,
}
"""The one map from the envelope's ``error_code`` to the exception raised."""


def error_from_response(response: httpx.Response) -> ReplydAPIError:
    """The exception for an error answer, envelope or not."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    code = body.get("error_code")
    if not isinstance(code, str) or not code:
        code = f"HTTP_{response.status_code}"
    message = body.get("error")
    if not isinstance(message, str) or not message:
        message = response.reason_phrase or "The server answered with an error."
    details = [
        FieldError(str(item.get("field", "")), str(item.get("message", "")))
        for item in body.get("details") or []
        if isinstance(item, dict)
    ]
    retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
    return ERROR_CLASSES.get(code, ReplydAPIError)(response.status_code, code, message, details, retry_after_s)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, whether sent as seconds or as an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None
