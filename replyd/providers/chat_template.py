"""The embedded model's chat template, rendered and tokenized as llama-cpp-python does for a
chat completion, so that replyd can count a template's markers and evaluate the start of a
coming prompt ahead of time (``LocalProvider.prepare``)."""

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from llama_cpp import Llama
    from numpy.typing import NDArray

Messages = list[dict[str, str]]


class ChatTemplate:
    def __init__(self, llama: "Llama", template: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos, bos = (
            llama.detokenize([t], special=True).decode(errors="ignore") for t in (llama.token_eos(), llama.token_bos())
        )
        self._llama = llama
        self._prompt = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self._prefix = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos, add_generation_prompt=False)

    @classmethod
    def of(cls, llama: "Llama") -> "ChatTemplate | None":
        """The template the model file carries; None without one (llama-cpp-python then uses a
        built-in format that replyd does not reproduce)."""
        template = llama.metadata.get("tokenizer.chat_template")
        return cls(llama, template) if template else None

    def tokens(self, messages: Messages, *, reply: bool) -> "NDArray[np.intc]":
        """The tokens llama.cpp evaluates for ``messages``: a whole prompt asking for a reply,
        or (``reply`` False) the start of longer prompts."""
        render = self._prompt if reply else self._prefix
        text = render(messages=messages).prompt  # type: ignore[arg-type]
        return np.array(self._llama.tokenize(text.encode(), add_bos=True, special=True), dtype=np.intc)

    def message_overhead(self) -> int:
        """The tokens the template adds around a message besides its role's name, found by
        rendering it with and without one. SmolLM2's adds 4: ``<|im_start|>``, a newline after
        the role, ``<|im_end|>``, a newline."""
        system = {"role": "system", "content": "x"}
        added = len(self.tokens([system, {"role": "user", "content": "x"}], reply=True)) - len(
            self.tokens([system], reply=True)
        )
        return added - sum(len(self._llama.tokenize(text, add_bos=False, special=False)) for text in (b"x", b"user"))
