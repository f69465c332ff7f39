"""The seams between rooms: what an embedder, a chat model, a vector store and the TL;DR
journal must offer.

Real adapters (assistant/embedding/, assistant/llm/, vectorstore/) and the shipped test doubles
(assistant/testing.py) both satisfy these, so core code types against these Protocols and only
assistant/service.py names a concrete adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from assistant.types import Chunk, Hit, Paper, Tldr

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

    def load(self) -> float:
        """Load the weights now (idempotent; otherwise the first call loads them); return the
        seconds it took."""
        ...

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


@runtime_checkable
class PrefixWarmer(Protocol):
    """A chat model that can evaluate a prompt prefix ahead of the first call (the in-process
    model; a model server keeps its own cache, so its adapter does not offer this)."""

    def warm_prefix(self, prompts: Sequence[Sequence[Message]], *, threads: int = 1) -> int:
        """Put the tokens all ``prompts`` start with into the KV cache, using ``threads``
        threads; skip (return 0) if that would delay or evict a real call. Return the tokens
        evaluated."""
        ...


class VectorStore(Protocol):
    """Chunks and papers with their vectors. A paper record is written after all its chunks
    (the commit marker), so chunks without one are leftovers of an interrupted write."""

    name: str
    path: Path | None  # where it persists; None in memory
    generation: int  # bumped by every write through this object

    def write_papers(
        self, items: Sequence[tuple[Paper, Sequence[Chunk], NDArray[np.float32]]]
    ) -> int:
        """Replace each paper's chunks, then write its paper record; return chunks written."""
        ...

    def delete_paper(self, paper_id: str) -> bool: ...

    def drop(self) -> None:
        """Delete every chunk and paper (the store is unusable until reopened)."""
        ...

    def reopen(self) -> VectorStore:
        """A fresh handle on the same location (after :meth:`drop`)."""
        ...

    def hashes(self) -> dict[str, str]: ...

    def papers(self) -> list[Paper]: ...

    def get_paper(self, paper_id: str) -> Paper | None: ...

    def count_papers(self) -> int: ...

    def count_chunks(self) -> int: ...

    def all_chunks(self) -> list[Hit]:
        """Every committed chunk (orphans left out)."""
        ...

    def query(self, vector: NDArray[np.float32], n: int) -> list[Hit]:
        """The ``n`` nearest chunks by cosine; ``Hit.dense`` holds the similarity."""
        ...

    def committed_ids(self) -> set[str]: ...

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest kept with the store itself (a shared store has no data dir to hold it)."""
        ...

    def write_manifest(self, data: dict[str, Any]) -> None: ...


class StoreBackend(Protocol):
    """Opens stores of one kind: embedded Chroma, or a Chroma server."""

    # True for a server: several processes use it at once, so no data-dir lock, and the
    # manifest and the TL;DRs live with the store instead of in the data dir
    shared: bool

    def version(self) -> str:
        """The backend's version, recorded in the manifest."""
        ...

    def open(self, path: Path | None, collection: str) -> VectorStore: ...


class TldrStore(Protocol):
    """Where finished TL;DRs are kept: the data dir's journal file, or the store's server."""

    @property
    def records(self) -> Mapping[str, Tldr]:
        """Every kept TL;DR by paper id."""
        ...

    def is_current(self, paper: Paper, provenance: dict[str, str]) -> bool:
        """True if the kept TL;DR was made from this text with this provenance."""
        ...

    def append(self, record: Tldr) -> None:
        """Keep ``record`` (replacing the paper's previous one), durably, before returning."""
        ...

    def forget(self, keep: Iterable[str]) -> None:
        """Drop every TL;DR whose paper id is not in ``keep``."""
        ...
