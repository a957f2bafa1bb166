"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server,
a gateway), through the official openai SDK."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from replyd.errors import ProviderError, ProviderRejected, ProviderTimeout
from replyd.providers.base import (
    ChatMessage,
    Completion,
    EstimatedTokens,
    Options,
    ToolCall,
    ToolSpec,
    Usage,
    storable,
)

OPENAI_URL = "https://api.openai.com/v1"
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@contextmanager
def map_openai_errors() -> Iterator[None]:
    """Turn the SDK's exceptions into replyd's, most specific first."""
    try:
        yield
    except openai.APITimeoutError as exc:
        raise ProviderTimeout("The model provider did not answer in time; please retry.", is_retryable=True) from exc
    except openai.APIConnectionError as exc:
        raise ProviderError("Could not reach the model provider; please retry later.", is_retryable=True) from exc
    except openai.APIStatusError as exc:
        if 400 <= exc.status_code < 500 and exc.status_code not in RETRYABLE_STATUSES:
            raise ProviderRejected(
                f"The model provider refused this request with HTTP {exc.status_code}, so sending it again "
                "will not help; the server's log has the provider's reason."
            ) from exc
        raise ProviderError(
            f"The model provider failed with HTTP {exc.status_code}; please retry later.",
            is_retryable=exc.status_code in RETRYABLE_STATUSES,
        ) from exc
    except (openai.OpenAIError, ValueError, LookupError, TypeError, AttributeError) as exc:
        raise ProviderError("The model provider sent an answer replyd could not read.") from exc


class OpenAICompatProvider(EstimatedTokens):
    """Counts tokens by estimate: no tokenizer of the remote model is at hand (and none is
    downloaded); billing uses the usage the server reports."""

    def __init__(
        self, base_url: str | None, api_key: str | None, timeout_s: float, send_cache_key: bool = True
    ) -> None:
        self._is_configured = bool(base_url or api_key)
        self._send_cache_key = send_cache_key
        self._client = openai.AsyncOpenAI(
            base_url=base_url or OPENAI_URL,
            api_key=api_key or "unused",  # self-hosted servers usually want no key
            timeout=timeout_s,
            max_retries=0,  # providers/retry.py retries, within replyd's own deadline
        )

    async def complete(
        self, model: str, messages: list[ChatMessage], options: Options, tools: Sequence[ToolSpec] = ()
    ) -> Completion:
        if not self._is_configured:
            raise ProviderError(
                "The openai provider is not configured: set REPLYD_OPENAI_API_KEY, and "
                "REPLYD_OPENAI_BASE_URL for a server other than OpenAI."
            )
        extra: dict[str, Any] = {"tools": [_tool(t) for t in tools]} if tools else {}
        if options.cache_key and self._send_cache_key:
            extra["prompt_cache_key"] = options.cache_key
        with map_openai_errors():
            # The SDK's post() skips create()'s request transform, which walks every message
            # through typing machinery and cost more than the rest of a reply together.
            response = await self._client.post(
                "/chat/completions",
                body={
                    "model": model,
                    "messages": [_message(m) for m in messages],
                    "temperature": options.temperature,
                    "max_tokens": options.max_tokens,
                    **extra,
                },
                cast_to=ChatCompletion,
            )
            message = response.choices[0].message
            calls = tuple(
                ToolCall(call.id, call.function.name, call.function.arguments or "{}")
                for call in message.tool_calls or ()
                if call.type == "function"
            )
            usage = response.usage
        return storable(
            Completion(
                text=message.content or "",
                usage=_usage(usage) if usage else self._estimate(messages, message),
                tool_calls=calls,
            )
        )

    def _estimate(self, messages: list[ChatMessage], answer: Any) -> Usage:
        """For servers that report no usage: bill an estimate rather than nothing."""
        prompt = sum(self.count_tokens(m.content) for m in messages)
        return Usage(prompt, self.count_tokens(answer.content or ""))

    async def prepare(self, model: str, messages: list[ChatMessage], options: Options) -> None:
        """Nothing: such servers cache prompt prefixes on their side, as requests arrive."""

    async def aclose(self) -> None:
        await self._client.close()


def _usage(usage: Any) -> Usage:
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(usage.prompt_tokens, usage.completion_tokens, cached)


def _message(message: ChatMessage) -> Any:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _tool(tool: ToolSpec) -> Any:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }
