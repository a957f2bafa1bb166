"""What every model provider offers the reply engine: ``complete(...)`` and a token count.

Providers translate their library's exceptions into ``ProviderError``/``ProviderTimeout``;
no aiohttp or llama_cpp exception leaves this package."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from replyd.errors import ProviderError
from replyd.json_rules import is_valid_text

Role = Literal["system", "user", "assistant", "tool"]

CHARS_PER_TOKEN = 4
"""Estimate used where no tokenizer is at hand: English text averages about four characters a token."""

MESSAGE_OVERHEAD_TOKENS = 3
"""Tokens a chat template adds around each message besides its role's name (markers,
separators), where the template is unknown: OpenAI's models add 3."""


@dataclass(frozen=True)
class ToolCall:
    """The model's request to call a function; ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolSpec:
    """A function offered to the model."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """On an assistant message: the calls it asked for."""
    tool_call_id: str | None = None
    """On a tool message: the call whose result it carries."""


@dataclass(frozen=True)
class Options:
    temperature: float = 0.7
    max_tokens: int = 256
    cache_key: str | None = None
    """Stable per conversation: providers that route by it keep its prompt prefix cached."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens the provider served from its prompt cache (part of ``prompt_tokens``)."""

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[ToolCall, ...] = ()


def storable(completion: Completion) -> Completion:
    """``completion``, if all its text can be stored and sent back: a model may write half a
    UTF-16 surrogate pair (as a JSON escape) or NUL, which no database or UTF-8 answer holds.
    Refused here, before anything is stored or charged."""
    calls = (text for call in completion.tool_calls for text in (call.id, call.name, call.arguments))
    if not all(is_valid_text(text) for text in (completion.text, *calls)):
        raise ProviderError("The model answered with text that is not valid Unicode (or holds NUL); please retry.")
    return completion


class Tokenizer(Protocol):
    """How a model counts a prompt: its text's tokens, and what its chat template adds."""

    @property
    def message_overhead_tokens(self) -> int:
        """Tokens the chat template adds around each message besides its role's name."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` costs this provider's models (an estimate where exact is unknown)."""
        ...


class Provider(Tokenizer, Protocol):
    """A source of chat completions, such as the embedded model or an OpenAI-compatible server."""

    async def complete(
        self, model: str, messages: list[ChatMessage], options: Options, tools: Sequence[ToolSpec] = ()
    ) -> Completion:
        """Answer the conversation in ``messages`` with the named model, which may ask to
        call some of ``tools`` instead of answering in text."""
        ...

    async def prepare(self, model: str, messages: list[ChatMessage], options: Options) -> None:
        """Evaluate the start of a conversation's coming prompts ahead of time, where the
        provider keeps state between calls (the embedded model); elsewhere nothing to do."""
        ...


def message_tokens(message: ChatMessage, tokenizer: Tokenizer) -> int:
    """Its content, its function calls, its role's name and the template's markers."""
    count = tokenizer.count_tokens
    calls = sum(count(c.name) + count(c.arguments) for c in message.tool_calls)
    return count(message.content) + calls + count(message.role) + tokenizer.message_overhead_tokens


def unit_tokens(messages: Sequence[ChatMessage], tokenizer: Tokenizer) -> int:
    return sum(message_tokens(m, tokenizer) for m in messages)


def prompt_tokens(messages: Sequence[ChatMessage], tokenizer: Tokenizer) -> int:
    """A whole prompt: its messages, and the header of the reply it asks for (counted as an
    empty assistant message: at most 2 tokens too many for SmolLM2 and for OpenAI's models)."""
    return unit_tokens(messages, tokenizer) + message_tokens(ChatMessage("assistant", ""), tokenizer)


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


class EstimatedTokens:
    """The count where no tokenizer is at hand: 4 characters a token, 4 tokens a message."""

    message_overhead_tokens = MESSAGE_OVERHEAD_TOKENS

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)


ESTIMATE = EstimatedTokens()


class ProviderWrapper:
    """A provider around another one (retries, metrics): it counts tokens as the inner one does."""

    def __init__(self, inner: Provider) -> None:
        self._inner = inner

    async def prepare(self, model: str, messages: list[ChatMessage], options: Options) -> None:
        await self._inner.prepare(model, messages, options)

    @property
    def message_overhead_tokens(self) -> int:
        return self._inner.message_overhead_tokens

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)
