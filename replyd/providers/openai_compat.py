"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server,
a gateway), spoken to with aiohttp.

replyd posts the chat-completions body itself and reads the answer's few fields it needs.
The openai SDK did the same through its request pipeline, which cost about 1.6 ms of CPU a
call on top of the HTTP exchange (0.4 ms with aiohttp), more than the rest of a reply's
database work (docs/performance.md, issue 12). Retries are ``retry.py``'s; this module makes
one attempt and says whether another may succeed."""

import json
import logging
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import aiohttp

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

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
ERROR_BODY_LOGGED_CHARS = 500


class StatusError(Exception):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:ERROR_BODY_LOGGED_CHARS]}")
        self.status = status


@contextmanager
def map_http_errors() -> Iterator[None]:
    """Turn aiohttp's exceptions, error statuses and unreadable answers into replyd's, most
    specific first."""
    try:
        yield
    except TimeoutError as exc:
        raise ProviderTimeout("The model provider did not answer in time; please retry.", is_retryable=True) from exc
    except aiohttp.ClientError as exc:
        raise ProviderError("Could not reach the model provider; please retry later.", is_retryable=True) from exc
    except StatusError as exc:
        log.warning("the model provider answered %s", exc)
        if 400 <= exc.status < 500 and exc.status not in RETRYABLE_STATUSES:
            raise ProviderRejected(
                f"The model provider refused this request with HTTP {exc.status}, so sending it again "
                "will not help; the server's log has the provider's reason."
            ) from exc
        raise ProviderError(
            f"The model provider failed with HTTP {exc.status}; please retry later.",
            is_retryable=exc.status in RETRYABLE_STATUSES,
        ) from exc
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise ProviderError("The model provider sent an answer replyd could not read.") from exc


class OpenAICompatProvider(EstimatedTokens):
    """Counts tokens by estimate: no tokenizer of the remote model is at hand (and none is
    downloaded); billing uses the usage the server reports."""

    def __init__(
        self, base_url: str | None, api_key: str | None, timeout_s: float, send_cache_key: bool = True
    ) -> None:
        self._is_configured = bool(base_url or api_key)
        self._send_cache_key = send_cache_key
        self._url = (base_url or OPENAI_URL).rstrip("/") + "/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {api_key or 'unused'}",  # self-hosted servers usually want no key
            "Content-Type": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        """Opened on the first call, inside the event loop that will use it."""

    async def complete(
        self, model: str, messages: list[ChatMessage], options: Options, tools: Sequence[ToolSpec] = ()
    ) -> Completion:
        if not self._is_configured:
            raise ProviderError(
                "The openai provider is not configured: set REPLYD_OPENAI_API_KEY, and "
                "REPLYD_OPENAI_BASE_URL for a server other than OpenAI."
            )
        body: dict[str, Any] = {
            "model": model,
            "messages": [_message(m) for m in messages],
            "temperature": options.temperature,
            "max_tokens": options.max_tokens,
        }
        if tools:
            body["tools"] = [_tool(t) for t in tools]
        if options.cache_key and self._send_cache_key:
            body["prompt_cache_key"] = options.cache_key
        with map_http_errors():
            answer = await self._post(body)
            text, calls = _read_message(answer["choices"][0]["message"])
            usage = _usage(answer["usage"]) if answer.get("usage") else self._estimate(messages, text)
        return storable(Completion(text=text, usage=usage, tool_calls=calls))

    async def _post(self, body: dict[str, Any]) -> Any:
        if self._session is None:
            # aiohttp's trust_env would read ~/.netrc on every request; the proxy is read once instead.
            self._session = aiohttp.ClientSession(timeout=self._timeout, proxy=environment_proxy(self._url))
        async with self._session.post(self._url, data=json.dumps(body), headers=self._headers) as response:
            raw = await response.read()
            if response.status >= 400:
                raise StatusError(response.status, raw.decode(errors="replace"))
        return json.loads(raw)

    def _estimate(self, messages: list[ChatMessage], answer: str) -> Usage:
        """For servers that report no usage: bill an estimate rather than nothing."""
        prompt = sum(self.count_tokens(m.content) for m in messages)
        return Usage(prompt, self.count_tokens(answer))

    async def prepare(self, model: str, messages: list[ChatMessage], options: Options) -> None:
        """Nothing: such servers cache prompt prefixes on their side, as requests arrive."""

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def environment_proxy(url: str) -> str | None:
    """The proxy that HTTP_PROXY / HTTPS_PROXY name for ``url``, unless NO_PROXY exempts its host."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _read_message(message: dict[str, Any]) -> tuple[str, tuple[ToolCall, ...]]:
    """The answer's text and function calls; anything of the wrong type is unreadable."""
    text = message.get("content") or ""
    calls = tuple(
        ToolCall(call["id"], call["function"]["name"], call["function"].get("arguments") or "{}")
        for call in message.get("tool_calls") or ()
        if call.get("type", "function") == "function"
    )
    parts = (text, *(part for call in calls for part in (call.id, call.name, call.arguments)))
    if not all(isinstance(part, str) for part in parts):
        raise TypeError("the answer's text and function calls must be strings")
    return text, calls


def _usage(usage: dict[str, Any]) -> Usage:
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(int(usage["prompt_tokens"]), int(usage["completion_tokens"]), int(cached))


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
