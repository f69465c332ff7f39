"""The seams between modules: what an embedder and a chat model must offer.

Real adapters (assistant/embed.py, assistant/llm.py) and the test fakes (tests/fakes.py) both
satisfy these, so every pipeline function can take either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-normalised vectors, shape (len(texts), dim)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the embedder's own tokenizer (no special tokens)."""
        ...


class Generation(BaseModel):
    text: str
    prompt_tokens: int
    completion_tokens: int
    prefill_s: float = 0.0  # time to first token
    decode_s: float = 0.0
    finish_reason: str = ""


class ChatModel(Protocol):
    name: str
    sha256: str
    n_ctx: int

    def count_tokens(self, text: str) -> int:
        """Tokens of plain ``text`` in the model's tokenizer."""
        ...

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the fully templated chat prompt (what prefill will process)."""
        ...

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Generation:
        """Run one chat completion under the model lock; ``on_token`` streams pieces."""
        ...
