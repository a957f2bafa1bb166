"""Providers made by a test are closed after it, so no HTTP session outlives its event loop."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from replyd.providers.openai_compat import OpenAICompatProvider
from tests.servers import StubModel


@pytest.fixture
async def openai_provider(stub_model: StubModel) -> AsyncIterator[Callable[..., OpenAICompatProvider]]:
    """``openai_provider(timeout_s=5, base_url=None)``: a provider for the stub model (or ``base_url``)."""
    made: list[OpenAICompatProvider] = []

    def make(timeout_s: float = 5, base_url: str | None = None) -> OpenAICompatProvider:
        base: Any = base_url or stub_model.base_url  # type: ignore[attr-defined]
        made.append(OpenAICompatProvider(base, "key", timeout_s))
        return made[-1]

    yield make
    for provider in made:
        await provider.aclose()
