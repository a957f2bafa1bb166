"""A call to the API, described once and sent by either client: how to build its request,
whether repeating it is harmless, and how to read its answer."""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

import httpx

from replyd import __version__
from replyd.client._errors import InvalidResponseError, error_from_response

T = TypeVar("T")

QueryValue = str | int | float | bool


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    """Turns the answer's JSON into the method's result."""
    params: Mapping[str, QueryValue | None] = field(default_factory=dict)
    """Query parameters; None values are left out."""
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    is_idempotent: bool = False
    """Doing it twice is the same as doing it once (reads, deletes, takeovers)."""

    @property
    def is_repeatable(self) -> bool:
        """Safe to send again after a lost answer: idempotent, or deduplicated by the server."""
        return self.is_idempotent or self.idempotency_key is not None


def default_headers(token: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": f"replyd-python/{__version__}",
        **(extra or {}),
    }


def build_request(http: httpx.Client | httpx.AsyncClient, call: Call[Any], timeout_s: float) -> httpx.Request:
    headers = {"Idempotency-Key": call.idempotency_key} if call.idempotency_key else {}
    content = None
    if call.body is not None:
        headers["Content-Type"] = "application/json"
        content = json.dumps(call.body, default=_json_default).encode()
    params = {name: _query_value(value) for name, value in call.params.items() if value is not None}
    return http.build_request(
        call.method, call.path, params=params, content=content, headers=headers, timeout=timeout_s
    )


def read_response(call: Call[T], response: httpx.Response) -> T:
    """The call's result, or the ``ReplydAPIError`` the answer stands for, raised."""
    if not response.is_success:
        raise error_from_response(response)
    try:
        return call.read(response.json())
    except ValueError as exc:  # not JSON, or not the expected shape (pydantic's ValidationError is one)
        raise InvalidResponseError(
            f"{call.method} {call.path} answered {response.status_code} with a body this client cannot read: {exc}"
        ) from exc


def ignore_body(_: Any) -> None:
    """For calls whose answer only confirms what was asked (deletes)."""


def _query_value(value: QueryValue) -> str | int | float:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _json_default(value: object) -> Any:
    """Money given as ``Decimal`` goes as a string, which the server reads exactly."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
