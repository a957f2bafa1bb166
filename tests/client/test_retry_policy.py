"""The retry policy on its own, with a fake clock: what is retried, after how long, and when
it gives up."""

import httpx
import pytest

from replyd.client import (
    RateLimitedError,
    ReplydAPIError,
    ReplydConnectionError,
    ReplydTimeoutError,
    RetryPolicy,
)
from replyd.client._errors import ERROR_CLASSES


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def api_error(status: int, code: str, retry_after_s: float | None = None) -> ReplydAPIError:
    return ERROR_CLASSES.get(code, ReplydAPIError)(status, code, "scripted", None, retry_after_s)


LOST_ANSWER = httpx.RemoteProtocolError("Server disconnected without sending a response.")
NEVER_SENT = httpx.ConnectError("Connection refused")


def test_backoff_doubles_up_to_its_cap_with_full_jitter() -> None:
    highest = RetryPolicy(jitter=lambda: 1.0)
    assert [highest.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy(jitter=lambda: 0.0).backoff(5) == 0.0
    assert RetryPolicy(jitter=lambda: 0.25).backoff(3) == 0.5


def test_rate_limited_waits_retry_after_or_backs_off_without_one() -> None:
    policy = RetryPolicy(jitter=lambda: 1.0)
    assert policy.delay_s(api_error(429, "RATE_LIMITED", 7), 1, is_repeatable=False) == 7
    assert policy.delay_s(api_error(429, "RATE_LIMITED"), 2, is_repeatable=False) == 1.0


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_model_failures_are_retried_only_when_repeatable(status: int) -> None:
    policy = RetryPolicy(jitter=lambda: 1.0)
    error = api_error(status, "LLM_ERROR")
    assert policy.delay_s(error, 1, is_repeatable=True) == 0.5
    assert policy.delay_s(error, 1, is_repeatable=False) is None


def test_a_request_the_model_provider_refused_is_never_retried() -> None:
    policy = RetryPolicy(jitter=lambda: 1.0)
    assert policy.delay_s(api_error(502, "LLM_REQUEST_REJECTED"), 1, is_repeatable=True) is None


def test_a_lost_answer_is_retried_only_when_repeatable_but_an_unsent_request_always() -> None:
    policy = RetryPolicy(jitter=lambda: 1.0)
    assert policy.delay_s(LOST_ANSWER, 1, is_repeatable=True) == 0.5
    assert policy.delay_s(httpx.ReadTimeout("slow"), 1, is_repeatable=True) == 0.5
    assert policy.delay_s(LOST_ANSWER, 1, is_repeatable=False) is None
    assert policy.delay_s(httpx.ReadTimeout("slow"), 1, is_repeatable=False) is None
    assert policy.delay_s(NEVER_SENT, 1, is_repeatable=False) == 0.5
    assert policy.delay_s(httpx.UnsupportedProtocol("ftp"), 1, is_repeatable=True) is None


def test_a_request_in_progress_is_asked_again_but_an_assistant_in_use_is_final() -> None:
    policy = RetryPolicy(jitter=lambda: 1.0)
    assert policy.delay_s(api_error(409, "REQUEST_IN_PROGRESS"), 1, is_repeatable=True) == 0.5
    assert policy.delay_s(api_error(409, "ASSISTANT_IN_USE"), 1, is_repeatable=True) is None


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INVALID_JSON"), (401, "UNAUTHENTICATED"), (402, "INSUFFICIENT_BALANCE"), (404, "NOT_FOUND"),
     (422, "VALIDATION_ERROR"), (422, "IDEMPOTENCY_KEY_REUSED"), (500, "INTERNAL_ERROR")],
)  # fmt: skip
def test_refusals_that_a_repeat_cannot_change_are_final(status: int, code: str) -> None:
    assert RetryPolicy().delay_s(api_error(status, code), 1, is_repeatable=True) is None


def test_max_attempts_one_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).delay_s(api_error(429, "RATE_LIMITED", 1), 1, is_repeatable=True) is None


def test_a_wait_that_would_pass_the_deadline_raises_the_last_error_at_once() -> None:
    clock = FakeClock()
    attempts = RetryPolicy(deadline_s=10, clock=clock).begin(is_repeatable=True, timeout_s=60)
    assert attempts.delay_s(api_error(429, "RATE_LIMITED", 4)) == 4
    clock.now += 4
    late = api_error(429, "RATE_LIMITED", 6)
    with pytest.raises(RateLimitedError) as raised:
        attempts.delay_s(late)
    assert raised.value is late


def test_each_attempt_timeout_is_cut_to_the_time_left() -> None:
    clock = FakeClock()
    attempts = RetryPolicy(deadline_s=30, clock=clock).begin(is_repeatable=True, timeout_s=20)
    assert attempts.timeout_s() == 20
    clock.now += 25
    assert attempts.timeout_s() == 5


def test_giving_up_on_a_transport_error_raises_the_clients_own_error_from_it() -> None:
    attempts = RetryPolicy().begin(is_repeatable=False, timeout_s=60)
    with pytest.raises(ReplydConnectionError) as raised:
        attempts.delay_s(LOST_ANSWER)
    assert raised.value.__cause__ is LOST_ANSWER
    with pytest.raises(ReplydTimeoutError):
        RetryPolicy(max_attempts=1).begin(is_repeatable=True, timeout_s=60).delay_s(httpx.ReadTimeout("slow"))
