"""Model calls as the operators' metrics see them: timed, counted and their tokens added up,
under the provider's name."""

import time
from collections.abc import Sequence

from replyd.errors import ReplydError
from replyd.providers.base import ChatMessage, Completion, Options, Provider, ProviderWrapper, ToolSpec
from replyd.telemetry import Telemetry


class MeasuredProvider(ProviderWrapper):
    """A provider whose calls are timed and counted under its name."""

    def __init__(self, inner: Provider, name: str, telemetry: Telemetry) -> None:
        super().__init__(inner)
        self._name = name
        self._telemetry = telemetry

    async def complete(
        self, model: str, messages: list[ChatMessage], options: Options, tools: Sequence[ToolSpec] = ()
    ) -> Completion:
        started = time.perf_counter()
        try:
            completion = await self._inner.complete(model, messages, options, tools)
        except ReplydError as exc:
            self._telemetry.model_errors.labels(self._name, exc.error_code).inc()
            raise
        finally:
            self._telemetry.model_seconds.labels(self._name).observe(time.perf_counter() - started)
        self._telemetry.model_tokens.labels(self._name, "prompt").inc(completion.usage.prompt_tokens)
        self._telemetry.model_tokens.labels(self._name, "completion").inc(completion.usage.completion_tokens)
        self._telemetry.model_tokens.labels(self._name, "cached").inc(completion.usage.cached_tokens)
        return completion
