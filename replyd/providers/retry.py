"""Retries of a provider's retryable failures, with exponential backoff and full jitter,
all within one total deadline: the client waits at most that long, then gets 502 or 504."""

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence

from replyd.errors import ProviderError, ProviderTimeout
from replyd.providers.base import ChatMessage, Completion, Options, Provider, ProviderWrapper, ToolSpec

FIRST_BACKOFF_S, LONGEST_BACKOFF_S = 0.25, 8.0


class RetryingProvider(ProviderWrapper):
    def __init__(
        self,
        inner: Provider,
        retries: int,
        deadline_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(inner)
        self._retries = retries
        self._deadline_s = deadline_s
        self._sleep = sleep

    async def complete(
        self, model: str, messages: list[ChatMessage], options: Options, tools: Sequence[ToolSpec] = ()
    ) -> Completion:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deadline_s
        attempt = 0
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    return await self._inner.complete(model, messages, options, tools)
            except TimeoutError:
                raise ProviderTimeout("The model provider did not answer in time; please retry.") from None
            except ProviderError as exc:
                pause = random.uniform(0, min(LONGEST_BACKOFF_S, FIRST_BACKOFF_S * 2**attempt))
                if not exc.is_retryable or attempt >= self._retries or loop.time() + pause >= deadline:
                    raise
            attempt += 1
            await self._sleep(pause)
