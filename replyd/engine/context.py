"""What the model sees: the system prompt, as much recent history as fits the assistant's
context budget (oldest dropped first), and the new message."""

from collections.abc import Callable, Sequence

from replyd.providers.base import MESSAGE_OVERHEAD_TOKENS, ChatMessage

TokenCounter = Callable[[str], int]


def message_tokens(message: ChatMessage, count_tokens: TokenCounter) -> int:
    return count_tokens(message.content) + MESSAGE_OVERHEAD_TOKENS


def most_messages_in_budget(budget_tokens: int) -> int:
    """No more history than this can fit, since every message costs at least its overhead plus one."""
    return budget_tokens // (MESSAGE_OVERHEAD_TOKENS + 1) + 1


def build_model_input(
    system_prompt: str,
    history: Sequence[ChatMessage],
    new_message: str,
    budget_tokens: int,
    count_tokens: TokenCounter,
) -> list[ChatMessage]:
    """The system prompt and the new message always go in, even if they alone exceed the
    budget; history fills what is left, newest first, and is never cut mid-message."""
    head = [ChatMessage("system", system_prompt)] if system_prompt else []
    tail = [ChatMessage("user", new_message)]
    used = sum(message_tokens(m, count_tokens) for m in head + tail)
    kept: list[ChatMessage] = []
    for message in reversed(history):
        cost = message_tokens(message, count_tokens)
        if used + cost > budget_tokens:
            break
        kept.append(message)
        used += cost
    return head + kept[::-1] + tail
