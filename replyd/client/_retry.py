"""When to try a call again, in one place for the sync and the async client.

A call may be repeated when repeating it cannot do anything twice: reads, deletes, taking a
conversation over or handing it back, and the reply endpoints, which always carry an
Idempotency-Key (the server answers a repeat with the stored reply). Every call is repeated
when the server refused it without doing anything (429), or when the request never left
(the connection could not be opened). Nothing is repeated after the deadline."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from replyd.client._errors import LLMRequestRejectedError, ReplydAPIError, ReplydConnectionError, ReplydTimeoutError

RETRYABLE = (ReplydAPIError, httpx.TransportError)
"""What a client loop hands to ``Attempts.delay_s``; anything else propagates at once."""

NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors before the request left: nothing reached the server."""

NO_ANSWER = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
"""Transport errors after which the server may or may not have done the work."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retry 429 after Retry-After, and 502/503/504 (but not 502 LLM_REQUEST_REJECTED, which
    would fail again), 409 REQUEST_IN_PROGRESS and lost connections with exponential backoff
    and full jitter, until ``deadline_s`` has passed since the call began or ``max_attempts``
    were made. ``RetryPolicy(max_attempts=1)`` never retries."""

    deadline_s: float = 120.0
    """The whole call, retries and waits included, ends by then; each attempt's timeout is cut to fit."""
    max_attempts: int = 8
    backoff_s: float = 0.5
    """The first backoff's ceiling; it doubles each attempt up to ``max_backoff_s``."""
    max_backoff_s: float = 8.0
    retry_statuses: frozenset[int] = frozenset({502, 503, 504})
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)
    """Returns a float in [0, 1); tests pass a constant."""

    def begin(self, is_repeatable: bool, timeout_s: float) -> "Attempts":
        """Start counting attempts of one call; ``is_repeatable``: doing it twice changes nothing."""
        return Attempts(self, is_repeatable, timeout_s, self.clock() + self.deadline_s)

    def delay_s(self, error: Exception, attempt: int, is_repeatable: bool) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` after ``error``, or None: give up."""
        if attempt >= self.max_attempts:
            return None
        if isinstance(error, ReplydAPIError):
            if error.status == 429:
                return error.retry_after_s if error.retry_after_s is not None else self.backoff(attempt)
            if error.error_code == "REQUEST_IN_PROGRESS":
                return self.backoff(attempt)
            if isinstance(error, LLMRequestRejectedError):
                return None
            if error.status in self.retry_statuses and is_repeatable:
                return error.retry_after_s if error.retry_after_s is not None else self.backoff(attempt)
            return None
        if isinstance(error, NEVER_SENT) or (isinstance(error, NO_ANSWER) and is_repeatable):
            return self.backoff(attempt)
        return None

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff_s, backoff_s * 2 ** (attempt - 1)))."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2.0 ** (attempt - 1))
        return ceiling * self.jitter()


class Attempts:
    """One call's attempts: the timeout of the next one, and whether and when to make it."""

    def __init__(self, policy: RetryPolicy, is_repeatable: bool, timeout_s: float, deadline: float) -> None:
        self._policy = policy
        self._is_repeatable = is_repeatable
        self._timeout_s = timeout_s
        self._deadline = deadline
        self._attempt = 1
        """Number of the attempt being made (1 for the first)."""

    def timeout_s(self) -> float:
        """The attempt's timeout: the client's, cut to the time left before the deadline."""
        return max(min(self._timeout_s, self._deadline - self._policy.clock()), 0.001)

    def delay_s(self, error: Exception) -> float:
        """Seconds to sleep before the next attempt; raises ``error`` (a transport error as
        ``ReplydConnectionError``) when the policy gives up or the wait would pass the deadline."""
        delay = self._policy.delay_s(error, self._attempt, self._is_repeatable)
        if delay is None or self._policy.clock() + delay >= self._deadline:
            if isinstance(error, httpx.TransportError):
                raise _connection_error(error) from error
            raise error
        self._attempt += 1
        return delay


def _connection_error(error: httpx.TransportError) -> ReplydConnectionError:
    """httpx's error in the client's own terms, as httpx maps httpcore's."""
    reason = str(error) or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        return ReplydTimeoutError(f"The server did not answer in time: {reason}")
    return ReplydConnectionError(f"The server could not be reached or did not answer: {reason}")
