"""A memo of embedding vectors keyed by text (the grounding checks embed the same sentences
again and again: every sentence of an answer against the same sources, later questions against
abstracts retrieved before)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from assistant.protocols import Embedder


class CachingEmbedder:
    """Wraps an Embedder and remembers each text's vector, so checking an answer sentence by
    sentence embeds every source sentence once. Without ``max_items`` it grows unbounded (make
    one per answer); with it, it keeps the most recently used vectors and can be shared by a
    process, so abstracts retrieved again by later questions are not embedded again."""

    def __init__(self, embedder: Embedder, *, max_items: int | None = None) -> None:
        self.inner = embedder
        self.name = embedder.name
        self.dim = embedder.dim
        self.max_items = max_items
        self._vectors: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        if todo:
            found.update(zip(todo, self.inner.embed(todo), strict=True))
        with self._lock:
            for t in dict.fromkeys(texts):
                self._vectors[t] = found[t]
                self._vectors.move_to_end(t)
            while self.max_items is not None and len(self._vectors) > self.max_items:
                self._vectors.popitem(last=False)
        return np.stack([found[t] for t in texts]).astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)
