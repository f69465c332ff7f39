"""The embedder's BERT encoder in plain numpy: the fallback when onnxruntime cannot run it.

Token ids -> last hidden states, with the same weights and arithmetic as the reference model
(exact GELU, LayerNorm eps 1e-12). BLAS threads are managed by the caller (:mod:`.minilm`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import cast

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


# erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, float32's own precision): exact
# GELU without importing scipy (~0.4 s of a cold start) and in about half scipy's time.
_ERF_A = tuple(
    np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_ERF_P = np.float32(0.3275911)
_INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))


def _gelu(x: F32) -> F32:
    """x * (1 + erf(x / sqrt 2)) / 2, computed in place on two temporaries.

    The sign is applied with copysign, not a masked subtract: numpy's ``where=`` ufuncs run
    without SIMD and took over half of GELU's time (GELU was a third of an embedding call).
    """
    z = np.abs(x)
    z *= _INV_SQRT2
    t = z * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    a1, a2, a3, a4, a5 = _ERF_A
    g = t * a5
    for a in (a4, a3, a2, a1):
        g += a
        g *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    g *= z
    g *= np.float32(-0.5)
    g += np.float32(0.5)  # now erf(|x| / sqrt 2) / 2
    np.copysign(g, x, out=g)
    g += np.float32(0.5)
    g *= x
    return cast(F32, g.astype(np.float32, copy=False))


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


class NumpyEncoder:
    def __init__(self, w: dict[str, F32], model_dir: Path) -> None:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self._heads = int(config["num_attention_heads"])
        self.dim = int(config["hidden_size"])
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._type0 = np.asarray(w["embeddings.token_type_embeddings.weight"][0])
        self._ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = [_Layer(w, i) for i in range(int(config["num_hidden_layers"]))]

    def __call__(self, ids: NDArray[np.int64], positions: NDArray[np.int64], bias: F32) -> F32:
        n, t = ids.shape
        x = self._word[ids] + self._pos[positions] + self._type0
        x = _layer_norm(x.astype(np.float32), *self._ln0)
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
        return cast(F32, x.reshape(n, t, self.dim))
