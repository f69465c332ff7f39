"""The embedder's BERT encoder run by onnxruntime (the adapter for onnx and onnxruntime).

The graph is written once from the same safetensors weights the numpy encoder reads (standard
ONNX operators, opset 20, float32: no quantization, so vectors match the numpy path to float
rounding) and cached in ``<data_dir>/models``, verified like every derived file
(:mod:`assistant.files`). onnxruntime fuses LayerNorm, GELU and the attention
arithmetic that numpy runs as separate passes over memory: the 574 sentences of the sample's
abstracts embed about 1.6x faster, a single short query about 1.5x (docs/PERFORMANCE.md).

Only building the graph needs the ``onnx`` package; running it needs ``onnxruntime``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from assistant.files import build_once

# Bump when the graph below changes: cached graphs carry it in their file name.
GRAPH_VERSION = 2  # 2: per-row positions and a full attention mask (packed rows)
OPSET = 20  # the first opset with a Gelu operator

F32 = NDArray[np.float32]


def graph_bytes(model_dir: Path) -> bytes:
    """The serialised ONNX model of the encoder: token ids -> last hidden states."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from assistant.embedding.weights import load_safetensors

    w = load_safetensors(model_dir / "model.safetensors")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    heads, layers = int(config["num_attention_heads"]), int(config["num_hidden_layers"])
    dim = int(config["hidden_size"])
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, arr: Any) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(kind: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def dense(x: str, weight: Any, bias: Any, out: str) -> str:
        mm = op("MatMul", [x, const(out + ".w", np.asarray(weight).T)], out + ".mm")
        return op("Add", [mm, const(out + ".b", bias)], out)

    def norm(x: str, prefix: str, out: str) -> str:
        ln = [const(out + ".g", w[prefix + ".weight"]), const(out + ".beta", w[prefix + ".bias"])]
        return op("LayerNormalization", [x, *ln], out, axis=-1, epsilon=1e-12)

    const("qkv_shape", np.array([0, 0, 3, heads, dim // heads], dtype=np.int64))
    const("ctx_shape", np.array([0, 0, dim], dtype=np.int64))
    const("axis0", np.array([0], dtype=np.int64))
    const("scale", np.array(1.0 / math.sqrt(dim // heads), dtype=np.float32))
    const("type0", np.asarray(w["embeddings.token_type_embeddings.weight"][0]))
    x = op("Gather", [const("word", w["embeddings.word_embeddings.weight"]), "ids"], "tok")
    pos = op("Gather", [const("pos", w["embeddings.position_embeddings.weight"]), "positions"], "p")
    x = op("Add", [op("Add", [x, pos], "e.pos"), "type0"], "e.type")
    x = norm(x, "embeddings.LayerNorm", "e.ln")
    for i in range(layers):
        pre, n = f"encoder.layer.{i}.", f"l{i}."
        att = pre + "attention.self."
        qkv_w = np.concatenate([w[att + k + ".weight"] for k in ("query", "key", "value")])
        qkv_b = np.concatenate([w[att + k + ".bias"] for k in ("query", "key", "value")])
        qkv = op("Reshape", [dense(x, qkv_w, qkv_b, n + "qkv"), "qkv_shape"], n + "qkv5")
        # (3, batch, heads, tokens, head_dim), then one tensor each for q, k and v
        qkv = op("Transpose", [qkv], n + "qkvT", perm=[2, 0, 3, 1, 4])
        nodes.append(
            helper.make_node("Split", [qkv], [n + "q3", n + "k3", n + "v3"], axis=0, num_outputs=3)
        )
        q, k, v = (op("Squeeze", [n + s + "3", "axis0"], n + s) for s in "qkv")
        kt = op("Transpose", [k], n + "kT", perm=[0, 1, 3, 2])
        scores = op("Mul", [op("MatMul", [q, kt], n + "qk"), "scale"], n + "qk.s")
        probs = op("Softmax", [op("Add", [scores, "bias"], n + "qk.m")], n + "att", axis=-1)
        ctx = op("Transpose", [op("MatMul", [probs, v], n + "ctx")], n + "ctxT", perm=[0, 2, 1, 3])
        ctx = op("Reshape", [ctx, "ctx_shape"], n + "ctx3")
        out = dense(
            ctx,
            w[pre + "attention.output.dense.weight"],
            w[pre + "attention.output.dense.bias"],
            n + "o",
        )
        x = norm(op("Add", [out, x], n + "o.res"), pre + "attention.output.LayerNorm", n + "ln1")
        ff = dense(
            x, w[pre + "intermediate.dense.weight"], w[pre + "intermediate.dense.bias"], n + "ff1"
        )
        ff = op("Gelu", [ff], n + "gelu", approximate="none")
        ff = dense(ff, w[pre + "output.dense.weight"], w[pre + "output.dense.bias"], n + "ff2")
        x = norm(op("Add", [ff, x], n + "ff.res"), pre + "output.LayerNorm", n + "ln2")
    nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))
    graph = helper.make_graph(
        nodes,
        "minilm-encoder",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["batch", "tokens"]),
            # (batch, 1, tokens, tokens): which token may attend to which (0 or -1e9)
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["batch", 1, "q", "tokens"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", dim])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="paper-assistant"
    )
    model.ir_version = 10  # what onnxruntime 1.2x reads
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def graph_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where the graph of ``model_dir``'s weights is cached (``assistant doctor`` checks it)."""
    weights = (model_dir / "model.safetensors").stat()
    # Size and mtime name the weights (a reinstall rebuilds) without hashing 90 MB per start.
    key = f"{weights.st_size:x}-{weights.st_mtime_ns:x}"
    return cache_dir / f"all-MiniLM-L6-v2.{key}.g{GRAPH_VERSION}.onnx"


def cached_graph(model_dir: Path, cache_dir: Path) -> Path:
    """The encoder's graph file in ``cache_dir``, written once per weights file and verified."""
    target = graph_path(model_dir, cache_dir)

    def build(tmp: Path) -> None:
        tmp.write_bytes(graph_bytes(model_dir))

    build_once(target, build)
    # Graphs of older weights or graph versions are never read again: 90 MB each.
    for stale in cache_dir.glob("all-MiniLM-L6-v2.*.onnx*"):
        if stale.name not in (target.name, target.name + ".sha256"):
            stale.unlink(missing_ok=True)
    return target


class OnnxEncoder:
    """Token ids -> hidden states, through an onnxruntime session on the CPU."""

    def __init__(self, model: Path | bytes, *, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers must not spin: llama.cpp needs the same cores right after a query.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        source = str(model) if isinstance(model, Path) else model
        self._session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])

    def __call__(self, ids: NDArray[np.int64], positions: NDArray[np.int64], bias: F32) -> F32:
        feeds = {"ids": ids, "positions": positions, "bias": bias}
        (hidden,) = self._session.run(["hidden"], feeds)
        return np.asarray(hidden, dtype=np.float32)
