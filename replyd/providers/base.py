"""What every model provider offers the reply engine: ``complete(...)`` and a token count.

Providers translate their library's exceptions into ``ProviderError``/``ProviderTimeout``;
no openai or llama_cpp exception leaves this package."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]

CHARS_PER_TOKEN = 4
"""Estimate used where no tokenizer is at hand: English text averages about four characters a token."""

MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat template adds around each message (role markers, separators)."""


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


class Provider(Protocol):
    """A source of chat completions, such as the embedded model or an OpenAI-compatible server."""

    async def complete(
        self, model: str, messages: list[ChatMessage], options: Options, tools: Sequence[ToolSpec] = ()
    ) -> Completion:
        """Answer the conversation in ``messages`` with the named model, which may ask to
        call some of ``tools`` instead of answering in text."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` costs this provider's models (an estimate where exact is unknown)."""
        ...


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
