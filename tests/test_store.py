"""The data-dir lock (across real processes) and the store manifest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.datadir import (
    DataDirLock,
    atomic_write_text,
    check_manifest,
    expected_manifest,
    read_manifest,
    write_manifest,
)
from assistant.errors import StoreError, StoreLockedError

HOLD = """
import sys, time
from pathlib import Path
from assistant.datadir import DataDirLock
lock = DataDirLock(Path(sys.argv[1]), exclusive=sys.argv[2] == "ex").acquire()
print("locked", flush=True)
time.sleep(120)
"""


class Holder:
    """A separate process that takes the lock and keeps it until killed."""

    def __init__(self, data_dir: Path, exclusive: bool) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(data_dir), "ex" if exclusive else "sh"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"
        self.pid = self.proc.pid

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture()
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for h in started:
        h.kill()


def try_lock(data_dir: Path, exclusive: bool) -> tuple[str | None, float]:
    """Acquire and release; return the error message (None on success) and the seconds taken."""
    t0 = time.monotonic()
    try:
        DataDirLock(data_dir, exclusive=exclusive).acquire().release()
    except StoreLockedError as exc:
        return str(exc), time.monotonic() - t0
    return None, time.monotonic() - t0


def test_second_exclusive_lock_in_another_process_fails_fast(
    tmp_path: Path, holders: list[Holder]
) -> None:
    h = Holder(tmp_path, exclusive=True)
    holders.append(h)
    error, seconds = try_lock(tmp_path, exclusive=True)
    assert error is not None and f"store is in use by PID {h.pid}" in error
    assert seconds < 1.0
    assert StoreLockedError.exit_code == 3


def test_exclusive_blocks_shared(tmp_path: Path, holders: list[Holder]) -> None:
    h = Holder(tmp_path, exclusive=True)
    holders.append(h)
    error, seconds = try_lock(tmp_path, exclusive=False)
    assert error is not None and f"store is in use by PID {h.pid}" in error
    assert seconds < 1.0


def test_shared_locks_coexist(tmp_path: Path, holders: list[Holder]) -> None:
    holders.append(Holder(tmp_path, exclusive=False))
    holders.append(Holder(tmp_path, exclusive=False))
    assert try_lock(tmp_path, exclusive=False)[0] is None


def test_shared_blocks_exclusive_without_naming_a_stale_pid(
    tmp_path: Path, holders: list[Holder]
) -> None:
    writer = Holder(tmp_path, exclusive=True)
    writer.kill()  # leaves its PID in the lock file
    reader = Holder(tmp_path, exclusive=False)
    holders.append(reader)
    error, seconds = try_lock(tmp_path, exclusive=True)
    assert error is not None and "store is in use" in error
    assert str(writer.pid) not in error  # that process is gone; don't send the user after it
    assert seconds < 1.0


def test_lock_released_when_holder_dies(tmp_path: Path, holders: list[Holder]) -> None:
    h = Holder(tmp_path, exclusive=True)
    holders.append(h)
    assert try_lock(tmp_path, exclusive=True)[0] is not None
    h.kill()
    assert try_lock(tmp_path, exclusive=True)[0] is None
    assert try_lock(tmp_path, exclusive=False)[0] is None


def test_lock_in_process_release_and_context_manager(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, exclusive=True) as lock:
        assert lock.path.read_text() == str(os.getpid())
    assert lock.path.read_text() == ""  # released: no PID left to blame
    with DataDirLock(tmp_path, exclusive=True):
        pass
    shared = DataDirLock(tmp_path, exclusive=False).acquire()
    again = DataDirLock(tmp_path, exclusive=False).acquire()
    shared.release()
    again.release()
    again.release()  # idempotent


# ------------------------------------------------------------------------------ manifest


def test_manifest_round_trip_and_check(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) is None
    expected = expected_manifest("emb-a", 64, "1.5.9")
    check_manifest(tmp_path, expected)  # no manifest yet: a new store, nothing to refuse
    write_manifest(tmp_path, expected)
    found = read_manifest(tmp_path)
    assert found is not None
    assert {k: found[k] for k in expected} == expected
    assert "written" in found
    check_manifest(tmp_path, expected)
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


@pytest.mark.parametrize(
    ("name", "dim", "version", "named"),
    [("emb-b", 64, "1.5.9", "emb-b"), ("emb-a", 384, "1.5.9", "384"), ("emb-a", 64, "2.0", "2.0")],
)
def test_manifest_mismatch_names_reindex(
    tmp_path: Path, name: str, dim: int, version: str, named: str
) -> None:
    write_manifest(tmp_path, expected_manifest("emb-a", 64, "1.5.9"))
    with pytest.raises(StoreError, match="assistant reindex") as info:
        check_manifest(tmp_path, expected_manifest(name, dim, version))
    assert named in str(info.value)


def test_unreadable_manifest_names_reindex(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="assistant reindex"):
        read_manifest(tmp_path)


def test_atomic_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.json"
    atomic_write_text(target, json.dumps({"a": 1}))
    atomic_write_text(target, json.dumps({"a": 2}))
    assert json.loads(target.read_text()) == {"a": 2}
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]
