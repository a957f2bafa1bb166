"""Finds the provider for an assistant's model, written ``provider:name`` (``local:smollm2``,
``openai:gpt-4o-mini``). Providers are built once per app and shared by all requests."""

import asyncio

from replyd.errors import ProviderError
from replyd.providers.base import Provider
from replyd.providers.local import MODEL_NAMES, LocalProvider
from replyd.providers.measured import MeasuredProvider
from replyd.providers.openai_compat import OpenAICompatProvider
from replyd.providers.retry import RetryingProvider
from replyd.settings import Settings
from replyd.telemetry import Telemetry

PROVIDER_NAMES = ("local", "openai")
DEFAULT_MODEL = "local:smollm2"


def parse_model(model: str) -> tuple[str, str]:
    """``"openai:gpt-4o-mini"`` -> ``("openai", "gpt-4o-mini")``; raises ValueError with advice."""
    provider, sep, name = model.partition(":")
    if not sep or not name or provider not in PROVIDER_NAMES:
        raise ValueError(
            f"model must be provider:name with provider one of {', '.join(PROVIDER_NAMES)}, e.g. {DEFAULT_MODEL}"
        )
    if provider == "local" and name not in MODEL_NAMES:
        raise ValueError(f"the embedded provider only has {', '.join(sorted(MODEL_NAMES))}; use {DEFAULT_MODEL}")
    return provider, name


class ProviderRegistry:
    def __init__(self, settings: Settings, telemetry: Telemetry) -> None:
        self.local = LocalProvider(
            settings.local_model_path,
            settings.local_context_tokens,
            settings.local_threads,
            settings.model_timeout_s,
            settings.local_cache_bytes,
        )
        self.openai = OpenAICompatProvider(
            settings.openai_base_url,
            settings.openai_api_key,
            settings.model_timeout_s,
            send_cache_key=settings.openai_prompt_cache_key,
        )
        self._measured = {
            "local": MeasuredProvider(self.local, "local", telemetry),
            "openai": MeasuredProvider(
                RetryingProvider(self.openai, settings.model_retries, settings.model_deadline_s), "openai", telemetry
            ),
        }

    def resolve(self, model: str) -> tuple[Provider, str]:
        try:
            provider, name = parse_model(model)
        except ValueError as exc:
            raise ProviderError(f"The assistant's model {model!r} is not usable: {exc}.") from None
        return self._measured[provider], name

    async def context_limit(self, model: str, reply_tokens: int) -> int | None:
        """The most prompt tokens the model can take besides its reply, where replyd knows it
        (the largest context the embedded model may grow to); None where the provider decides."""
        provider, _ = parse_model(model)
        if provider != "local":
            return None
        if not self.local.is_loaded:
            await self.preload_local()
        return self.local.max_context_tokens - reply_tokens

    async def preload_local(self) -> float:
        """Load the embedded model now (off the event loop); returns the seconds it took."""
        return await asyncio.to_thread(self.local.load)

    async def aclose(self) -> None:
        await self.openai.aclose()
