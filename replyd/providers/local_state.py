"""The embedded model's saved states: one per conversation, so that a conversation's next
turn evaluates only its new tokens even after other conversations used the model."""

import array
import ctypes
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama
    from numpy.typing import NDArray


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

    @property
    def token_ids(self) -> "NDArray[np.intc]":
        return np.frombuffer(self.tokens, dtype=np.intc)


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

    def get(self, key: str) -> SavedState | None:
        return self._states.get(key)

    def pop(self, key: str) -> SavedState | None:
        state = self._states.pop(key, None)
        if state is not None:
            self.size_bytes -= state.size_bytes
        return state


def reused_tokens(held: "NDArray[np.intc]", prompt: "NDArray[np.intc]") -> int:
    """The prompt tokens llama.cpp takes from the context it holds instead of evaluating them:
    the longest common prefix, short of the prompt's last token, which it always evaluates."""
    n = min(len(held), len(prompt) - 1)
    if n <= 0:
        return 0
    differ = np.flatnonzero(held[:n] != prompt[:n])
    return int(differ[0]) if differ.size else n
