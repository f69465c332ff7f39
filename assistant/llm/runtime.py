"""The GGUF the model actually runs from: the chosen file, or a faster layout of the same weights.

The bundled SmolLM2 GGUF stores its weights as Q4_1, which llama.cpp's CPU backend multiplies
without its fast prompt-processing kernels. Re-encoding the same weights as Q8_0 (every Q4_1
value fits an 8-bit grid with a small rounding step) made prompt processing about 1.8x faster
and decoding no slower here (docs/PERFORMANCE.md). The conversion runs once, locally, through
llama.cpp's own quantizer (about 1.5 s), into ``<data_dir>/models``; nothing is downloaded.

Trust: the converted file is loaded only after its sha256 is checked. For the bundled model the
result is deterministic, so its hash is pinned like the source's; for a user's GGUF the hash is
recorded in a ``.sha256`` file beside it at conversion time. Files are written to a temporary
name and renamed, so a crash never leaves a torn model behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.config import MODEL_RUNTIMES
from assistant.errors import ModelError
from assistant.files import build_once

# Weight encodings a GGUF can be converted to, and llama.cpp's name for each.
RUNTIME_FTYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "f16": "LLAMA_FTYPE_MOSTLY_F16"}
RUNTIME_CHOICES = MODEL_RUNTIMES

# sha256 of the bundled Q4_1 GGUF converted by llama-cpp-python 0.3.36 (deterministic).
BUNDLED_RUNTIME_LLAMA_CPP = "0.3.36"
BUNDLED_RUNTIME_SHA256 = {
    "q8_0": "7b46609d11703c058397e5cfe4cc6e4b2508cb1eb4c80ddc472a5d421fbdb508",
    "f16": "a269e3181fcbb25046f99f64ba8d3c159165b211c2ff4ffca7ba1bb219d2ccd0",
}

Converter = Callable[[Path, Path, str], None]


@dataclass(frozen=True)
class RuntimeFile:
    """What the model loads: ``path`` (verified) and how it was obtained."""

    path: Path
    kind: str  # "original" or a key of RUNTIME_FTYPES
    sha256: str
    note: str  # one line for `assistant status`


def resolve_kind(setting: str, *, bundled: bool) -> str:
    """'auto' means Q8_0 for the bundled model and the file as it is for a user's GGUF."""
    if setting == "auto":
        return "q8_0" if bundled else "original"
    if setting not in RUNTIME_CHOICES:
        raise ModelError(f"unknown model_runtime {setting!r}; choose one of {RUNTIME_CHOICES}")
    return setting


def prepare(
    source: Path,
    source_sha256: str,
    kind: str,
    cache_dir: Path,
    *,
    pinned: str | None = None,
    convert: Converter,
) -> RuntimeFile:
    """The file to load for ``source`` in encoding ``kind``, converting it once if needed.

    ``pinned`` is the expected hash of the converted file (the bundled model's); without it the
    hash recorded at conversion is the reference. Raises ModelError when the conversion fails
    or its result does not match the pin (the caller then falls back to ``source``).
    """
    if kind == "original":
        return RuntimeFile(source, "original", source_sha256, f"{source.name} as is")
    target = runtime_target(source, source_sha256, kind, cache_dir)
    digest = build_once(target, lambda tmp: convert(source, tmp, kind), pinned=pinned)
    return RuntimeFile(target, kind, digest, _note(source, kind, target))


def runtime_target(source: Path, source_sha256: str, kind: str, cache_dir: Path) -> Path:
    """Where the ``kind`` re-encoding of ``source`` lives (named by the source's hash)."""
    return cache_dir / f"{source.stem}.{source_sha256[:12]}.{kind}.gguf"


def _note(source: Path, kind: str, target: Path) -> str:
    return f"{kind} re-encoding of {source.name} ({target})"
