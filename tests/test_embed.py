"""The MiniLM embedder (onnxruntime and numpy encoders) against vectors computed by
sentence-transformers; the ONNX graph's cache and the fallback to numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.embedding.minilm import EMBEDDER_NAME, MiniLMEmbedder
from assistant.errors import ModelError
from assistant.files import sha256_file
from assistant.types import Paper

REFERENCE = Path(__file__).resolve().parent / "data" / "minilm_reference.json"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    data = json.loads(REFERENCE.read_text())
    assert data["model"] == EMBEDDER_NAME
    return data["texts"], np.asarray(data["vectors"], dtype=np.float32)


@pytest.fixture(scope="module")
def numpy_embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(runtime="numpy")


def test_identity(real_embedder: MiniLMEmbedder) -> None:
    assert (real_embedder.name, real_embedder.dim) == ("all-MiniLM-L6-v2", 384)
    assert real_embedder.runtime == "onnx", real_embedder.runtime_note  # the default path


@pytest.mark.parametrize("runtime", ["onnx", "numpy"])
def test_matches_sentence_transformers(
    runtime: str,
    real_embedder: MiniLMEmbedder,
    numpy_embedder: MiniLMEmbedder,
    reference: tuple[list[str], np.ndarray],
) -> None:
    embedder = real_embedder if runtime == "onnx" else numpy_embedder
    assert embedder.runtime == runtime
    texts, ref = reference
    got = embedder.embed(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.9999, cos


def test_long_text_is_truncated_like_reference(
    real_embedder: MiniLMEmbedder,
    numpy_embedder: MiniLMEmbedder,
    reference: tuple[list[str], np.ndarray],
) -> None:
    texts, ref = reference
    longest = max(range(len(texts)), key=lambda i: len(texts[i]))
    assert real_embedder.count_tokens(texts[longest]) > 256  # the reference covers truncation
    for embedder in (real_embedder, numpy_embedder):
        got = embedder.embed([texts[longest]])[0]
        assert float(got @ ref[longest]) / float(np.linalg.norm(ref[longest])) > 0.9999


def test_encoders_agree_to_float_rounding(
    real_embedder: MiniLMEmbedder, numpy_embedder: MiniLMEmbedder, sample_papers: list[Paper]
) -> None:
    """Stores built by either encoder stay compatible: same vectors, not merely close ones."""
    texts = [p.abstract for p in sample_papers[:6]] + [p.title for p in sample_papers[:6]]
    a, b = real_embedder.embed(texts), numpy_embedder.embed(texts)
    assert float((a * b).sum(axis=1).min()) > 0.99999
    assert np.abs(a - b).max() < 1e-4


def test_graph_is_cached_verified_and_rebuilt_when_changed(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    first = MiniLMEmbedder(cache_dir=cache)
    (graph,) = cache.glob("*.onnx")
    record = graph.with_name(graph.name + ".sha256")
    assert record.read_text().strip() == sha256_file(graph)
    assert str(graph) in first.runtime_note
    mtime = graph.stat().st_mtime_ns
    MiniLMEmbedder(cache_dir=cache)  # reused as is
    assert graph.stat().st_mtime_ns == mtime
    graph.write_bytes(b"torn")  # a damaged file is never loaded: it is rebuilt
    again = MiniLMEmbedder(cache_dir=cache)
    assert sha256_file(graph) == record.read_text().strip()
    assert again.runtime == "onnx"
    text = ["Cappy is a small scorer."]
    assert np.abs(again.embed(text) - first.embed(text)).max() < 1e-6
    assert sorted(p.name for p in cache.iterdir()) == sorted([graph.name, record.name])
    old = cache / "all-MiniLM-L6-v2.1234-5678.g1.onnx"  # an older graph version's files
    old.write_bytes(b"old graph")
    old.with_name(old.name + ".sha256").write_text("abc\n")
    (cache / "keep.txt").write_text("not ours")
    MiniLMEmbedder(cache_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == sorted([graph.name, record.name, "keep.txt"])


def test_unwritable_cache_builds_the_graph_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("a file where the cache directory should be")
    embedder = MiniLMEmbedder(cache_dir=blocker)
    assert embedder.runtime == "onnx" and "built in memory" in embedder.runtime_note


def test_auto_falls_back_to_numpy_and_onnx_fails_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import assistant.embedding.onnx_encoder as embed_onnx

    def broken(*args: object, **kwargs: object) -> None:
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(embed_onnx, "OnnxEncoder", broken)
    auto = MiniLMEmbedder()
    assert auto.runtime == "numpy" and "onnxruntime unavailable" in auto.runtime_note
    assert auto.embed(["still works"]).shape == (1, 384)
    with pytest.raises(ModelError, match="cannot run in onnxruntime"):
        MiniLMEmbedder(runtime="onnx")
    with pytest.raises(ModelError, match="unknown embedder_runtime"):
        MiniLMEmbedder(runtime="torch")


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

    from assistant.embedding import minilm as embed_mod

    def blas_threads() -> set[int]:
        return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}

    seen: list[set[int]] = []
    forward = real_embedder._forward

    def spying(rows: list[list[list[int]]]) -> np.ndarray:
        seen.append(blas_threads())
        return forward(rows)

    monkeypatch.setattr(real_embedder, "_forward", spying)
    real_embedder.embed(["one small call"])
    assert seen[-1] == {1} and blas_threads() == {1}
    real_embedder.embed([f"text number {i}" for i in range(embed_mod.BULK_TEXTS)])
    assert seen[-1] == {real_embedder._all_threads}
    assert blas_threads() == {1}


def test_pack_rows_groups_short_texts_and_keeps_long_ones_alone() -> None:
    from assistant.embedding.minilm import pack_rows

    rows = pack_rows([50, 10, 200, 30, 60, 40], 128)
    assert sorted(i for row in rows for i in row) == list(range(6))
    assert [2] in rows  # longer than the limit: a row of its own
    assert all(
        sum([50, 10, 200, 30, 60, 40][i] for i in row) <= 128 for row in rows if len(row) > 1
    )
    assert len(rows) < 6
    assert pack_rows([5, 7, 9], 0) == [[0], [1], [2]]  # no packing: one text per row
    assert pack_rows([], 128) == []


def test_texts_sharing_a_row_get_the_vectors_they_get_alone(
    real_embedder: MiniLMEmbedder, numpy_embedder: MiniLMEmbedder, sample_papers: list[Paper]
) -> None:
    """A sentence check embeds 2-5 texts in packed rows; a text must not see its row-mates."""
    from assistant.grounding.judge import split_sentences

    texts = [s for p in sample_papers[:2] for s in split_sentences(p.abstract)][:12]
    texts += ["short", "a"]
    for embedder in (real_embedder, numpy_embedder):
        alone = np.stack([embedder.embed([t])[0] for t in texts])
        for size in (2, 3, 5, len(texts)):
            together = np.concatenate(
                [embedder.embed(texts[i : i + size]) for i in range(0, len(texts), size)]
            )
            assert float((alone * together).sum(axis=1).min()) > 0.999999
