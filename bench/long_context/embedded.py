"""Instrumenting llama.cpp, and part (b): a long conversation through replyd on the embedded
model, with rolling summaries written (ahead, in the pause after a turn) by the stub."""

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.long_context.stub import (
    SYSTEM_PROMPT,
    CachingStub,
    Exchange,
    customer_message,
    prefix_changes,
    replyd_count,
    running_replyd,
    stub_rule,
)
from replyd.providers import local
from replyd.providers.local import LocalProvider
from replyd.services.assistant_config import AssistantConfig
from tests.servers import serve_in_thread

# ---------------------------------------------------------------- instrumenting llama.cpp


@dataclass
class TurnTimes:
    """What one completion on a ``Llama`` cost, from the probe's wrappers."""

    started: float
    prompt_tokens: int = 0
    new_tokens: int = 0
    """Prompt tokens evaluated anew (the rest came from the KV cache or a restored state)."""
    prompt_eval_s: float = 0.0
    first_token_s: float = math.nan
    """From ``started`` to the first sampled token."""
    save_s: float = 0.0
    load_s: float = 0.0
    loads: int = 0
    evals: int = 0
    total_s: float = math.nan
    """The whole call, as its caller saw it."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The chat the model was given."""
    context_tokens: int = 0
    """llama.cpp's context size when the completion ran."""
    reloads: int = 0
    """Times the provider reloaded the model during the call (to grow its context)."""


class LlamaProbe:
    """Times a ``Llama``'s steps by wrapping its methods on the instance: the first ``eval`` of a
    completion is the prompt's new part, the first ``sample`` its first token. replyd's
    ``save_state``/``restore_state`` (module functions of ``replyd.providers.local``, which
    ``LocalProvider`` looks up at each call) are wrapped too, passing other models' calls on.

    Given the ``LocalProvider`` that owns the ``Llama``, the probe follows it: growing its context
    reloads the model into a new ``Llama`` (``LocalProvider._open``), which the probe wraps in
    turn, counting the reload in the turn that caused it."""

    def __init__(self, llama: Any, provider: LocalProvider | None = None) -> None:
        self.turn = TurnTimes(time.perf_counter())
        self._attach(llama)
        if provider is not None:
            assert provider._llama is llama, "probe the provider's own model"
            # An attribute of the instance, in front of the method (mypy refuses assigning to a method).
            setattr(provider, "_open", partial(self._on_open, provider._open))  # noqa: B010
        for name, hook in (("save_state", self._on_save), ("restore_state", self._on_load)):
            setattr(local, name, partial(hook, getattr(local, name)))

    def _attach(self, llama: Any) -> None:
        self.llama = llama
        for name, hook in (
            ("eval", self._on_eval),
            ("sample", self._on_sample),
            ("create_chat_completion", self._on_completion),
        ):
            original = getattr(llama, name)
            setattr(llama, name, partial(hook, original))

    def start(self) -> TurnTimes:
        self.turn = TurnTimes(time.perf_counter())
        return self.turn

    def _on_eval(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = original(*args, **kwargs)
        if self.turn.evals == 0:
            self.turn.new_tokens = len(args[0])
            self.turn.prompt_eval_s = time.perf_counter() - started
        self.turn.evals += 1
        return result

    def _on_sample(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if math.isnan(self.turn.first_token_s):
            self.turn.first_token_s = time.perf_counter() - self.turn.started
        return original(*args, **kwargs)

    def _on_save(self, original: Callable[..., Any], llama: Any, *args: Any) -> Any:
        started = time.perf_counter()
        result = original(llama, *args)
        if llama is self.llama:
            self.turn.save_s += time.perf_counter() - started
        return result

    def _on_load(self, original: Callable[..., Any], llama: Any, *args: Any) -> Any:
        started = time.perf_counter()
        result = original(llama, *args)
        if llama is self.llama:
            self.turn.load_s += time.perf_counter() - started
            self.turn.loads += 1
        return result

    def _on_completion(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.turn.messages = kwargs["messages"]
        self.turn.context_tokens = self.llama.n_ctx()
        result = original(*args, **kwargs)
        self.turn.prompt_tokens = result["usage"]["prompt_tokens"]
        return result

    def _on_open(self, original: Callable[..., Any], *args: Any) -> Any:
        llama = original(*args)
        self._attach(llama)
        self.turn.reloads += 1
        return llama


# ---------------------------------------------------------------- (b) the embedded model


@dataclass(frozen=True)
class LocalTurn:
    times: TurnTimes
    served: Exchange
    is_cut: bool
    """The prompt no longer starts with the previous turn's."""
    stored_cached_tokens: int
    """``messages.cached_tokens`` of the reply as replyd stored it: the prompt tokens llama.cpp
    reused, as ``LocalProvider`` reports them (a summary of the stub adds none)."""
    counted_tokens: int
    """The reply's prompt as replyd counts it against the budget (the model's own tokenizer and
    template overhead)."""


def replay_on_local(work: Path, turns: int, budget: int, reply_tokens: int) -> list[LocalTurn]:
    """Summaries written ahead (by the stub), each turn followed by a customer's pause."""
    stub = CachingStub(rule=stub_rule)
    config = AssistantConfig(
        name="local",
        model="local:smollm2",
        summary_model="openai:stub-model",
        system_prompt=SYSTEM_PROMPT,
        context_budget_tokens=budget,
        max_reply_tokens=reply_tokens,
        temperature=0,
    )
    measured: list[tuple[TurnTimes, Exchange]] = []
    with serve_in_thread(stub.app()) as stub_url, running_replyd(work, stub_url + "/v1", config) as replyd:
        provider = replyd.app.state.replyd.providers.local
        probe = LlamaProbe(provider._llama, provider)
        for n in range(turns):
            times = probe.start()
            conversation_id, exchange = replyd.turn(customer_message(0, n), "long-local")
            measured.append((times, exchange))
            if n % 10 == 9:
                print(f"  local: {n + 1} turns, last {exchange.latency_s:.2f} s", file=sys.stderr)
        stored = [cached for _, cached in replyd.stored_replies(conversation_id)]
        counted = [replyd_count(times.messages, provider) for times, _ in measured]
    cuts = prefix_changes([times.messages for times, _ in measured])
    return [
        LocalTurn(times, exchange, is_cut, cached, count)
        for (times, exchange), is_cut, cached, count in zip(measured, cuts, stored, counted, strict=True)
    ]
