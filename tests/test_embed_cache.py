"""The shared, bounded embedding memo used by the grounding checks."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from assistant.embedding.cache import CachingEmbedder
from assistant.testing import FakeEmbedder


class _Counting(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.seen += list(texts)
        return super().embed(texts)


def test_vectors_equal_the_inner_embedders_and_each_text_is_embedded_once() -> None:
    inner = _Counting()
    cache = CachingEmbedder(inner)
    texts = ["alpha beta", "gamma", "alpha beta"]
    got = cache.embed(texts)
    assert np.allclose(got, FakeEmbedder().embed(texts))
    cache.embed(["gamma", "delta"])
    assert inner.seen == ["alpha beta", "gamma", "delta"]
    assert cache.embed([]).shape == (0, cache.dim)


def test_bounded_cache_forgets_the_least_recently_used() -> None:
    inner = _Counting()
    cache = CachingEmbedder(inner, max_items=2)
    cache.embed(["a one", "b two"])
    cache.embed(["a one"])  # a is now the most recent
    cache.embed(["c three"])  # evicts b
    inner.seen.clear()
    cache.embed(["a one", "b two", "c three"])
    assert inner.seen == ["b two"]


def test_threads_sharing_the_cache_get_the_right_vectors() -> None:
    cache = CachingEmbedder(FakeEmbedder(), max_items=50)
    texts = [f"text number {i}" for i in range(200)]
    want = FakeEmbedder().embed(texts)

    def work(k: int) -> bool:
        chunk = texts[k::7]
        return bool(np.allclose(cache.embed(chunk), want[k::7]))

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(7)))
