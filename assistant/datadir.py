"""Opening the store safely: the data-dir lock and the manifest.

Lock policy (Chroma is not process-safe; two processes on one directory can hang): a process
that writes (ingest, delete, reindex, TL;DR batches, the UI) takes an exclusive ``flock`` on
``<data_dir>/store.lock`` and records its PID there; a process that only reads takes a shared
lock. Either fails at once, naming the PID that holds it, instead of waiting. The kernel drops
the lock when the process dies, so a crash never leaves a stale lock behind.

A store on a Chroma server is not in the data dir: it takes no lock here (the server serialises
its writers) and keeps its manifest with the collection (``VectorStore.read_manifest``);
:func:`compare_manifest` checks both kinds the same way.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from assistant.errors import StoreError, StoreLockedError
from assistant.files import atomic_write_text

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1


class DataDirLock:
    def __init__(self, data_dir: Path, *, exclusive: bool) -> None:
        self.path = data_dir / "store.lock"
        self.exclusive = exclusive
        self._fh: IO[str] | None = None

    def acquire(self) -> DataDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fh.fileno(), mode | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _live_pid(fh.read())
            fh.close()
            who = f"PID {holder}" if holder else "another process"
            raise StoreLockedError(
                f"store is in use by {who} ({self.path.parent}); "
                "stop that process (for example the UI) or use another --data-dir"
            ) from None
        if self.exclusive:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            if self.exclusive:  # a PID left behind would be blamed for a later reader's lock
                self._fh.seek(0)
                self._fh.truncate()
                self._fh.flush()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _live_pid(text: str) -> int | None:
    """The PID recorded by the last exclusive holder, if that process still exists.

    Readers record nothing, and a writer killed with SIGKILL leaves its PID behind."""
    try:
        pid = int(text.strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:  # exists, owned by someone else
        return pid
    return pid


def expected_manifest(embedder_name: str, dim: int, chroma_version: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "embedder": embedder_name,
        "dim": dim,
        "chromadb": chroma_version,
    }


def read_manifest(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"unreadable manifest {path}: {exc}; run `assistant reindex`") from exc
    return data if isinstance(data, dict) else None


def check_manifest(data_dir: Path, expected: dict[str, Any]) -> None:
    """Refuse a store built with another embedder, dimension or Chroma version."""
    compare_manifest(read_manifest(data_dir), expected, f"the store in {data_dir}")


def compare_manifest(found: dict[str, Any] | None, expected: dict[str, Any], where: str) -> None:
    """Raise StoreError naming ``where`` and `reindex` if ``found`` differs from ``expected``
    (a store without a manifest yet passes)."""
    if found is None:
        return
    diffs = [
        f"{k}: store has {found.get(k)!r}, this install uses {v!r}"
        for k, v in expected.items()
        if found.get(k) != v
    ]
    if diffs:
        raise StoreError(
            f"{where} was built differently ({'; '.join(diffs)}). "
            "Run `assistant reindex` to rebuild it from the stored abstracts."
        )


def stamped(expected: dict[str, Any]) -> dict[str, Any]:
    """The manifest as written: ``expected`` plus when."""
    return dict(expected, written=datetime.now(UTC).isoformat(timespec="seconds"))


def write_manifest(data_dir: Path, expected: dict[str, Any]) -> None:
    data = stamped(expected)
    atomic_write_text(data_dir / MANIFEST, json.dumps(data, indent=2) + "\n")
