"""Files derived once from shipped weights (a re-encoded GGUF, the embedder's ONNX graph).

Each lives in ``<data_dir>/models`` and is loaded only after its sha256 matches a reference:
a pinned hash (deterministic builds of the bundled weights) or the hash recorded in a
``<name>.sha256`` file beside it when it was built. A missing, torn or changed file is rebuilt
from the source. Builds write to a temporary name and rename, so a crash never leaves a torn
file under the real name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from assistant.errors import ModelError
from assistant.llm_files import sha256_file
from assistant.store import atomic_write_text


def build_once(target: Path, build: Callable[[Path], None], *, pinned: str | None = None) -> str:
    """Make sure ``target`` exists and is verified; return its sha256.

    ``build(tmp)`` writes the file to ``tmp``. Raises ModelError when building fails or the
    result does not match ``pinned`` (nothing is left behind then).
    """
    record = target.with_name(target.name + ".sha256")
    expected = pinned
    if expected is None and record.is_file():
        expected = record.read_text(encoding="utf-8").strip() or None
    if target.is_file() and expected is not None and sha256_file(target) == expected:
        return expected
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create {target.parent}: {exc}") from exc
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        build(tmp)
        digest = sha256_file(tmp)
        if pinned is not None and digest != pinned:
            raise ModelError(
                f"building {target.name} gave sha256 {digest}, not the pinned {pinned} "
                f"(a different library version?)"
            )
        if pinned is None:
            atomic_write_text(record, digest + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        raise ModelError(f"cannot write {target}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return digest
