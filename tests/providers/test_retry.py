"""Retries of the model provider: backoff with jitter for retryable failures, within one deadline."""

import threading
from collections.abc import Callable

import pytest

from replyd.errors import ProviderError, ProviderTimeout
from replyd.providers.base import ChatMessage, Options
from replyd.providers.openai_compat import OpenAICompatProvider
from replyd.providers.retry import RetryingProvider
from tests.servers import Scripted, StubModel

MESSAGES = [ChatMessage("user", "Hello")]


def retrying(
    openai_provider: Callable[..., OpenAICompatProvider], retries: int = 2, deadline_s: float = 10, timeout_s: float = 5
) -> RetryingProvider:
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    inner = openai_provider(timeout_s)
    provider = RetryingProvider(inner, retries, deadline_s, sleep=record)
    provider.pauses = pauses  # type: ignore[attr-defined]
    return provider


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_retryable_failures_are_retried_with_growing_jittered_pauses(
    openai_provider: Callable[..., OpenAICompatProvider], stub_model: StubModel, status: int
) -> None:
    stub_model.enqueue(Scripted(status=status), Scripted(status=status), "recovered")
    provider = retrying(openai_provider)
    assert (await provider.complete("m", MESSAGES, Options())).text == "recovered"
    assert len(stub_model.requests) == 3
    first, second = provider.pauses  # type: ignore[attr-defined]
    assert 0 <= first <= 0.25 and 0 <= second <= 0.5


async def test_retries_run_out_into_an_llm_error(
    openai_provider: Callable[..., OpenAICompatProvider], stub_model: StubModel
) -> None:
    stub_model.enqueue(*[Scripted(status=500)] * 3)
    with pytest.raises(ProviderError) as caught:
        await retrying(openai_provider, retries=2).complete("m", MESSAGES, Options())
    assert caught.value.error_code == "LLM_ERROR" and len(stub_model.requests) == 3


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (Scripted(status=400), "LLM_REQUEST_REJECTED"),
        (Scripted(status=401), "LLM_REQUEST_REJECTED"),
        (Scripted(status=422), "LLM_REQUEST_REJECTED"),
        (Scripted(body="not json"), "LLM_ERROR"),
    ],
)
async def test_failures_that_would_fail_again_are_not_retried(
    openai_provider: Callable[..., OpenAICompatProvider], stub_model: StubModel, answer: Scripted, code: str
) -> None:
    stub_model.enqueue(answer, "never asked")
    with pytest.raises(ProviderError) as caught:
        await retrying(openai_provider).complete("m", MESSAGES, Options())
    assert len(stub_model.requests) == 1 and caught.value.error_code == code


async def test_the_deadline_bounds_all_attempts_together(
    openai_provider: Callable[..., OpenAICompatProvider], stub_model: StubModel
) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="late", gate=gate))
    try:
        with pytest.raises(ProviderTimeout):
            await retrying(openai_provider, deadline_s=0.3, timeout_s=30).complete("m", MESSAGES, Options())
    finally:
        gate.set()
