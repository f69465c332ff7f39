"""The numpy MiniLM embedder against vectors computed by sentence-transformers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.embed import EMBEDDER_NAME, MiniLMEmbedder

REFERENCE = Path(__file__).resolve().parent / "data" / "minilm_reference.json"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    data = json.loads(REFERENCE.read_text())
    assert data["model"] == EMBEDDER_NAME
    return data["texts"], np.asarray(data["vectors"], dtype=np.float32)


def test_identity(real_embedder: MiniLMEmbedder) -> None:
    assert (real_embedder.name, real_embedder.dim) == ("all-MiniLM-L6-v2", 384)


def test_matches_sentence_transformers(
    real_embedder: MiniLMEmbedder, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, ref = reference
    got = real_embedder.embed(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.9999, cos


def test_long_text_is_truncated_like_reference(
    real_embedder: MiniLMEmbedder, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, ref = reference
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    assert real_embedder.count_tokens(texts[longest]) > 256  # the reference covers truncation
    got = real_embedder.embed([texts[longest]])[0]
    assert float(got @ ref[longest]) / float(np.linalg.norm(ref[longest])) > 0.9999


def test_count_tokens(real_embedder: MiniLMEmbedder) -> None:
    assert real_embedder.count_tokens("") == 0
    assert real_embedder.count_tokens("hello world") == 2  # no [CLS]/[SEP]
    assert real_embedder.count_tokens("Hello world, tokenizers!") == 7  # word pieces
    long = "word " * 1000
    assert real_embedder.count_tokens(long) == 1000  # counting never truncates


def test_empty_input(real_embedder: MiniLMEmbedder) -> None:
    out = real_embedder.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_empty_string_is_finite_unit_vector(real_embedder: MiniLMEmbedder) -> None:
    out = real_embedder.embed([""])
    assert out.shape == (1, 384)
    assert np.isfinite(out).all()
    assert abs(float(np.linalg.norm(out[0])) - 1.0) < 1e-5


def test_batch_order_independent(real_embedder: MiniLMEmbedder) -> None:
    texts = [
        "A very short one.",
        "Retrieval-augmented generation with sparse mixtures of experts improves open QA "
        "exact match by several points on three benchmarks.",
        "Cappy",
        "Diffusion models for protein structure generation " * 4,
        "What is the capital of France?",
    ]
    batch = real_embedder.embed(texts)
    alone = np.stack([real_embedder.embed([t])[0] for t in texts])
    reversed_ = real_embedder.embed(texts[::-1])[::-1]
    assert np.abs(batch - alone).max() < 1e-5
    assert np.abs(batch - reversed_).max() < 1e-5


def test_small_batch_size_same_result(real_embedder: MiniLMEmbedder) -> None:
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(7)]
    small = MiniLMEmbedder(batch_size=2)
    assert np.abs(small.embed(texts) - real_embedder.embed(texts)).max() < 1e-5


def test_similar_texts_closer_than_unrelated(real_embedder: MiniLMEmbedder) -> None:
    q, near, far = real_embedder.embed(
        [
            "How many parameters does Cappy have?",
            "Cappy is a pretrained small scorer with 360 million parameters.",
            "The Eiffel Tower is in Paris.",
        ]
    )
    assert float(q @ near) > float(q @ far) + 0.2


def test_small_calls_leave_one_blas_thread_bulk_calls_use_all(
    real_embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle OpenBLAS workers spin and slow the model down: small calls (questions, checks,
    TL;DRs) run on one thread and leave one; bulk calls (ingest) get every thread back."""
    from threadpoolctl import threadpool_info

    from assistant import embed as embed_mod

    def blas_threads() -> set[int]:
        return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}

    seen: list[set[int]] = []
    forward = real_embedder._forward

    def spying(batch: list[list[int]]) -> np.ndarray:
        seen.append(blas_threads())
        return forward(batch)

    monkeypatch.setattr(real_embedder, "_forward", spying)
    real_embedder.embed(["one small call"])
    assert seen[-1] == {1} and blas_threads() == {1}
    real_embedder.embed([f"text number {i}" for i in range(embed_mod.BULK_TEXTS)])
    assert seen[-1] == {real_embedder._all_threads}
    assert blas_threads() == {1}
