"""Part (d), the issue's state-reuse targets: a long chat history cold and warm, raw
llama-cpp-python against replyd's ``LocalProvider``, then conversations taking turns round robin."""

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.long_context.embedded import LlamaProbe, TurnTimes
from bench.long_context.stub import REQUEST_TIMEOUT_S, SYSTEM_PROMPT, customer_message, stub_reply_text
from replyd.providers.base import ChatMessage, Options
from replyd.providers.local import LocalProvider, packaged_model_path

# ---------------------------------------------------------------- (d) state reuse


def render(message: dict[str, str]) -> str:
    """SmolLM2's chat template for one message."""
    return f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n"


def chat_history(conversation: int, target_tokens: int, count_tokens: Callable[[str], int]) -> list[dict[str, str]]:
    """A conversation whose prompt (template included) just reaches ``target_tokens``, ending
    with the customer's message."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    total, n = count_tokens(render(messages[0])) + 3, 0  # 3: the assistant header it ends with
    while True:
        user = {"role": "user", "content": customer_message(conversation, n)}
        total += count_tokens(render(user))
        messages.append(user)
        if total >= target_tokens:
            return messages
        answer = {"role": "assistant", "content": stub_reply_text({"messages": [user]})}
        total += count_tokens(render(answer))
        messages.append(answer)
        n += 1


def next_turn(messages: list[dict[str, str]], conversation: int, n: int) -> list[dict[str, str]]:
    answer = {"role": "assistant", "content": stub_reply_text({"messages": messages[-1:]})}
    return [*messages, answer, {"role": "user", "content": customer_message(conversation, 1000 + n)}]


@dataclass
class Reuse:
    """Part (d): every turn timed, by variant."""

    history_tokens: int = 0
    raw_cold: list[TurnTimes] = field(default_factory=list)
    raw_warm: list[TurnTimes] = field(default_factory=list)
    one_cold: list[TurnTimes] = field(default_factory=list)
    one_warm: list[TurnTimes] = field(default_factory=list)
    many_cold: list[TurnTimes] = field(default_factory=list)
    many_warm: list[TurnTimes] = field(default_factory=list)
    conversations: int = 0
    cache_bytes: int = 0
    held: tuple[int, int] = (0, 0)
    """Saved states after the round robin: how many, and their bytes."""
    rss_bytes: tuple[int, int] = (0, 0)
    """This process's resident memory after the round robin, and its peak."""


def provider_turn(provider: LocalProvider, messages: list[dict[str, str]], key: str) -> None:
    chat = [ChatMessage(m["role"], m["content"]) for m in messages]  # type: ignore[arg-type]
    asyncio.run(provider.complete("smollm2", chat, Options(temperature=0, max_tokens=1, cache_key=key)))


def raw_turn(llama: Any, messages: list[dict[str, str]]) -> None:
    """In a worker thread of a fresh event loop, as ``LocalProvider.complete`` runs llama.cpp, so
    that the two differ only in what replyd adds."""
    call = partial(llama.create_chat_completion, messages=messages, max_tokens=1, temperature=0)
    asyncio.run(asyncio.to_thread(call))


def timed(probe: LlamaProbe, run: Callable[[], None]) -> TurnTimes:
    times = probe.start()
    run()
    times.total_s = time.perf_counter() - times.started
    return times


def measure_reuse(
    history_tokens: int, warm_turns: int, conversations: int, rounds: int, cache_bytes: int, threads: int | None
) -> Reuse:
    result = Reuse(conversations=conversations, cache_bytes=cache_bytes)
    one_conversation(result, history_tokens, warm_turns, threads)
    gc.collect()  # the first part's two models go before the next one loads
    many_conversations(result, history_tokens, rounds, threads)
    return result


def one_conversation(result: Reuse, history_tokens: int, warm_turns: int, threads: int | None) -> None:
    """Raw llama-cpp-python and replyd's provider, turn by turn on the same history; their order
    alternates, so that drift in the machine's load hits both."""
    from llama_cpp import Llama

    raw = Llama(model_path=str(packaged_model_path()), n_ctx=4096, n_threads=threads, verbose=False)
    one = loaded_provider(result.cache_bytes, threads)
    raw_probe, one_probe = LlamaProbe(raw), LlamaProbe(one._llama, one)
    history = chat_history(0, history_tokens, count_with(one))
    for n in range(-1, warm_turns):
        if n >= 0:
            history = next_turn(history, 0, n)
        raw_times, one_times = (result.raw_cold, result.one_cold) if n < 0 else (result.raw_warm, result.one_warm)
        variants = [
            (raw_times, raw_probe, partial(raw_turn, raw, history)),
            (one_times, one_probe, partial(provider_turn, one, history, "one")),
        ]
        for times, probe, run in variants if n % 2 else reversed(variants):
            times.append(timed(probe, run))
        print(
            f"  reuse, one conversation, turn {n + 1}: raw {raw_times[-1].total_s:.2f} s, "
            f"replyd {one_times[-1].total_s:.2f} s",
            file=sys.stderr,
        )
    result.history_tokens = result.raw_cold[0].prompt_tokens


def many_conversations(result: Reuse, history_tokens: int, rounds: int, threads: int | None) -> None:
    """Different histories of the same size taking turns round robin on one provider."""
    many = loaded_provider(result.cache_bytes, threads)
    probe = LlamaProbe(many._llama, many)
    histories = [chat_history(c, history_tokens, count_with(many)) for c in range(result.conversations)]
    for n in range(-1, rounds):
        for c in range(result.conversations):
            if n >= 0:
                histories[c] = next_turn(histories[c], c, n)
            times = timed(probe, partial(provider_turn, many, histories[c], f"conversation-{c}"))
            (result.many_cold if n < 0 else result.many_warm).append(times)
            print(
                f"  reuse, {result.conversations} conversations, round {n + 1}, conversation {c}: "
                f"{times.total_s:.2f} s, {times.new_tokens} new tokens",
                file=sys.stderr,
            )
    result.held = held_states(many)
    result.rss_bytes = (proc_status_bytes("VmRSS"), proc_status_bytes("VmHWM"))


def loaded_provider(cache_bytes: int, threads: int | None) -> LocalProvider:
    provider = LocalProvider(None, 4096, threads, REQUEST_TIMEOUT_S, cache_bytes, start_context_tokens=4096)
    provider.load()
    return provider


def count_with(provider: LocalProvider) -> Callable[[str], int]:
    llama = provider._llama
    assert llama is not None
    return lambda text: len(llama.tokenize(text.encode(), add_bos=False, special=True))


def held_states(provider: LocalProvider) -> tuple[int, int]:
    """How many states the provider keeps, and their bytes (read from replyd's internals)."""
    states = provider._states
    return (len(states._states), states.size_bytes) if states else (0, 0)


def proc_status_bytes(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0
