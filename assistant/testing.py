"""Deterministic stand-ins for the chat model, the embedder and the store: shipped test doubles.

They satisfy the protocols in :mod:`assistant.protocols`, so every pipeline function can be
tested (and benchmarked) without llama.cpp, onnxruntime or Chroma. They reuse the real
adapters' helpers (the token-streaming loop of :mod:`assistant.llm.stream`) rather than
re-implementing them.

``FakeLLM``
    Scripted outputs: ``enqueue("first", "second")`` queues texts that successive ``generate``
    calls return in order; when the queue is empty it returns ``default_text`` (or, if given,
    ``responder(messages)``). An exception instance may be queued too: that call raises it.
    Every call's messages are recorded in ``.calls`` (a list of message lists) and its keyword
    arguments in ``.call_kwargs``. Tokens are whitespace words * 1.3, rounded up. ``generate``
    mirrors the real adapter: it raises ``ModelError`` when the prompt alone does not fit in
    ``n_ctx``, caps ``max_tokens`` to what fits, truncates at the earliest stop string
    (finish_reason "stop"), stops at ``max_tokens`` (finish_reason "length"), and streams the
    text word by word to ``on_token`` (the pieces concatenate to exactly ``Generation.text``).

``InMemoryStore``
    A :class:`~assistant.protocols.VectorStore` in a few dicts: same commit-marker rule (chunks
    without a paper record are hidden), exact cosine search with numpy.

``FakeEmbedder``
    Hashing-trick vectors of dimension 64 built from lower-cased word tokens and their
    character trigrams, unit-normalised. Deterministic across processes (blake2b, not
    ``hash()``), and texts sharing words or word fragments get high cosine similarity.
    ``count_tokens`` is the number of whitespace-separated words.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assistant.errors import ModelError
from assistant.llm.stream import consume
from assistant.protocols import Generation, Message
from assistant.types import Chunk, Hit, Paper

__all__ = [
    "FakeEmbedder",
    "FakeLLM",
    "InMemoryStore",
    "fake_token_count",
    "user_text",
]

TOKENS_PER_WORD = 1.3
MESSAGE_OVERHEAD = 4  # like "<|im_start|>role\n ... <|im_end|>\n"
PROMPT_OVERHEAD = 3  # like the "<|im_start|>assistant\n" generation prompt

_PIECE_RE = re.compile(r"\s*\S+|\s+")


def user_text(messages: Sequence[Message]) -> str:
    """The last user turn (a TL;DR prompt ends with the reply opener, an assistant turn)."""
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def fake_token_count(text: str) -> int:
    """Whitespace words * 1.3, rounded up (0 for blank text)."""
    return math.ceil(len(text.split()) * TOKENS_PER_WORD)


class FakeLLM:
    """A scripted ChatModel. See the module docstring."""

    def __init__(
        self,
        *,
        n_ctx: int = 2048,
        default_text: str = "This is a fake answer.",
        responder: Callable[[list[Message]], str] | None = None,
        delay_s: float = 0.0,
        name: str = "fake",
    ) -> None:
        self.name = name
        self.sha256 = "0" * 64
        self.n_ctx = n_ctx
        self.default_text = default_text
        self.responder = responder
        self.delay_s = delay_s  # sleep per call, inside the lock (for concurrency tests)
        self.calls: list[list[Message]] = []
        self.call_kwargs: list[dict[str, object]] = []
        self.loads = 0  # load() calls
        self._script: deque[str | BaseException] = deque()
        self._lock = threading.Lock()

    # scripting -------------------------------------------------------------------------------
    def enqueue(self, *outputs: str | BaseException) -> FakeLLM:
        """Queue outputs for the next calls, in order (an exception is raised by its call)."""
        with self._lock:
            self._script.extend(outputs)
        return self

    @property
    def pending(self) -> int:
        """Queued outputs not yet consumed."""
        return len(self._script)

    @property
    def last_messages(self) -> list[Message]:
        if not self.calls:
            raise AssertionError("FakeLLM.generate was never called")
        return self.calls[-1]

    # ChatModel -------------------------------------------------------------------------------
    def load(self) -> float:
        self.loads += 1
        return 0.0

    def count_tokens(self, text: str) -> int:
        return fake_token_count(text)

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        return (
            sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD for m in messages)
            + PROMPT_OVERHEAD
        )

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
        recorded = [dict(m) for m in messages]
        with self._lock:
            self.calls.append(recorded)
            self.call_kwargs.append(
                {
                    "max_tokens": max_tokens,
                    "stop": list(stop),
                    "temperature": temperature,
                    "seed": seed,
                }
            )
            item: str | BaseException | None = self._script.popleft() if self._script else None
            if self.delay_s:
                time.sleep(self.delay_s)
        if isinstance(item, BaseException):
            raise item
        if item is None:
            item = self.responder(recorded) if self.responder else self.default_text

        prompt = self.prompt_tokens(messages)
        if prompt >= self.n_ctx:
            raise ModelError(
                f"prompt of {prompt} tokens does not fit the {self.n_ctx}-token context"
            )
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        budget = min(max_tokens, self.n_ctx - prompt)

        # The real adapter's streaming loop, fed one "token" per whitespace-led word: stop
        # strings, held-back prefixes and the budget behave exactly as in LocalLLM.
        pieces = _PIECE_RE.findall(item)
        fit = 0
        while fit < len(pieces) and self.count_tokens("".join(pieces[: fit + 1])) <= budget:
            fit += 1
        end = len(pieces)
        consumed = consume(
            iter(range(end + 1)),
            piece=lambda i: pieces[i].encode("utf-8"),
            is_end=lambda i: i == end,
            budget=fit if fit < end else end + 1,
            stops=[s for s in stop if s],
            on_token=on_token,
        )
        out, finish = (consumed.text, consumed.finish_reason) if fit else ("", "length")
        return Generation(
            text=out,
            prompt_tokens=prompt,
            completion_tokens=self.count_tokens(out),
            prefill_s=0.0,
            decode_s=0.0,
            finish_reason=finish,
        )


def _stable_hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")


class FakeEmbedder:
    """A deterministic bag-of-words + character-trigram Embedder. See the module docstring."""

    WORD_WEIGHT = 1.0
    TRIGRAM_WEIGHT = 0.5

    def __init__(self, dim: int = 64, name: str = "fake-embedder") -> None:
        self.name = name
        self.dim = dim
        self.calls: list[list[str]] = []

    def _vector(self, text: str) -> NDArray[np.float32]:
        vec = np.zeros(self.dim, dtype=np.float64)
        for word in re.findall(r"\w+", text.lower()):
            h = _stable_hash("w:" + word)
            vec[h % self.dim] += self.WORD_WEIGHT if (h >> 32) & 1 else -self.WORD_WEIGHT
            padded = f"#{word}#"
            for i in range(len(padded) - 2):
                h = _stable_hash("t:" + padded[i : i + 3])
                vec[h % self.dim] += self.TRIGRAM_WEIGHT if (h >> 32) & 1 else -self.TRIGRAM_WEIGHT
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # no words at all: a fixed unit vector keeps the output normalised
            vec[0], norm = 1.0, 1.0
        return (vec / norm).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(list(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class InMemoryStore:
    """A VectorStore in process memory (exact search). See the module docstring."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.path = None
        self.generation = 0
        self._chunks: dict[str, tuple[Chunk, Paper, NDArray[np.float32]]] = {}
        self._papers: dict[str, Paper] = {}
        self._manifest: dict[str, Any] | None = None

    def write_papers(
        self, items: Sequence[tuple[Paper, Sequence[Chunk], NDArray[np.float32]]]
    ) -> int:
        written = 0
        for paper, chunks, vectors in items:
            self._drop_chunks(paper.paper_id)
            for chunk, vec in zip(chunks, vectors, strict=True):
                self._chunks[chunk.chunk_id] = (chunk, paper, np.asarray(vec, dtype=np.float32))
                written += 1
            self._papers[paper.paper_id] = paper  # after its chunks: the commit marker
        self.generation += 1
        return written

    def _drop_chunks(self, paper_id: str) -> None:
        for cid in [c for c, (_, p, _) in self._chunks.items() if p.paper_id == paper_id]:
            del self._chunks[cid]

    def delete_paper(self, paper_id: str) -> bool:
        found = self._papers.pop(paper_id, None) is not None
        self._drop_chunks(paper_id)
        self.generation += 1
        return found

    def drop(self) -> None:
        self._chunks.clear()
        self._papers.clear()
        self.generation += 1

    def reopen(self) -> InMemoryStore:
        return self

    def read_manifest(self) -> dict[str, Any] | None:
        return dict(self._manifest) if self._manifest is not None else None

    def write_manifest(self, data: dict[str, Any]) -> None:
        self._manifest = dict(data)

    def hashes(self) -> dict[str, str]:
        return {i: p.content_hash for i, p in self._papers.items()}

    def papers(self) -> list[Paper]:
        return list(self._papers.values())

    def get_paper(self, paper_id: str) -> Paper | None:
        return self._papers.get(paper_id)

    def count_papers(self) -> int:
        return len(self._papers)

    def count_chunks(self) -> int:
        return len(self._chunks)

    def committed_ids(self) -> set[str]:
        return set(self._papers)

    def _hit(self, chunk: Chunk, paper: Paper, sim: float | None) -> Hit:
        return Hit(
            chunk_id=chunk.chunk_id,
            paper_id=paper.paper_id,
            title=paper.title,
            text=chunk.text,
            score=sim if sim is not None else 0.0,
            dense=sim,
            published=paper.published.isoformat() if paper.published else None,
            url=paper.url,
        )

    def all_chunks(self) -> list[Hit]:
        return [
            self._hit(c, p, None) for c, p, _ in self._chunks.values() if p.paper_id in self._papers
        ]

    def query(self, vector: NDArray[np.float32], n: int) -> list[Hit]:
        rows = list(self._chunks.values())  # orphans included, as Chroma returns them
        sims = [float(np.dot(vector, v)) for _, _, v in rows]
        order = sorted(range(len(rows)), key=lambda i: -sims[i])[:n]
        return [self._hit(rows[i][0], rows[i][1], sims[i]) for i in order]
