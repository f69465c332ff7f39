"""File helpers shared by every room: atomic writes, streamed sha256, the CPU count, and files
derived once from shipped weights (a re-encoded GGUF, the embedder's ONNX graph).

A derived file lives in ``<data_dir>/models`` and is loaded only after its sha256 matches a
reference:
a pinned hash (deterministic builds of the bundled weights) or the hash recorded in a
``<name>.sha256`` file beside it when it was built. A missing, torn or changed file is rebuilt
from the source. Builds write to a temporary name and rename, so a crash never leaves a torn
file under the real name.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
from collections.abc import Callable
from pathlib import Path

from assistant.errors import ModelError

_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


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


def built_state(target: Path, *, pinned: str | None = None) -> str:
    """How :func:`build_once` would find ``target``, without building anything: "ok",
    "missing", "unverified" (no pin and no recorded hash) or "mismatch" (torn or changed)."""
    if not target.is_file():
        return "missing"
    expected = pinned
    record = target.with_name(target.name + ".sha256")
    if expected is None and record.is_file():
        expected = record.read_text(encoding="utf-8").strip() or None
    if expected is None:
        return "unverified"
    return "ok" if sha256_file(target) == expected else "mismatch"


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file, fsync, rename: readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def sha256_file(path: Path | str, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file; cached in-process by (resolved path, size, mtime).

    The file is hashed through a read-only memory map in one call, with the GIL released for
    all of it. Read in chunks, a hash in a background thread (the model's preload during a
    cold start's imports) waits for the GIL after every chunk: 0.5 s instead of 0.17 s for the
    145 MB runtime GGUF beside ``import chromadb``. (llama.cpp maps the same file anyway.)
    A file that cannot be mapped (an empty one, a pipe) is read in ``chunk_size`` blocks.
    """
    p = Path(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError as exc:
        raise ModelError(f"cannot read model file {p}: {exc}") from exc
    with _hash_lock:
        cached = _hash_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    try:
        with p.open("rb") as fh:
            try:
                view = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # empty, or not a mappable file
                while block := fh.read(chunk_size):
                    digest.update(block)
            else:
                with view:
                    digest.update(view)
    except OSError as exc:
        raise ModelError(f"cannot read model file {p}: {exc}") from exc
    value = digest.hexdigest()
    with _hash_lock:
        _hash_cache[key] = value
    return value


def cpu_threads() -> int:
    """CPUs this process may run on (its affinity mask), else ``os.cpu_count()``, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
