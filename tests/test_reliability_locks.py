"""Threat 7: two processes on one Chroma directory (chroma#7040; Chroma is not process-safe).

tests/test_store.py covers DataDirLock itself across processes. These tests hold the store the
way the application does (a Library opened for writing, as ingest and the UI do, or for reading)
in another process, and run the real `assistant` commands against it:

* while a writer holds it, `assistant ingest` (a second writer) and `assistant papers list` (a
  reader) exit 3 with "store is in use by PID <holder>" within 1 s of the command starting
  (interpreter start-up excluded), and write nothing;
* the lock dies with its process: SIGKILL the holder and the next writer gets in;
* readers coexist (shared lock) and keep writers out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ASSISTANT
from tests.helpers_reliability import DATA, ROOT, subprocess_env

HOLD = """
import sys, time
from assistant.config import Settings
from assistant.service import open_library
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder

data_dir, mode = sys.argv[1], sys.argv[2]
settings = Settings(data_dir=data_dir)
if mode == "setup":  # build a small store, then exit
    with open_library(settings, write=True, embedder=FakeEmbedder()) as lib:
        lib.ingest(parse_file(sys.argv[3]).papers)
    raise SystemExit(0)
lib = open_library(settings, write=mode == "write", embedder=FakeEmbedder())
print("held", lib.store.count_papers(), flush=True)
time.sleep(300)
"""

# Times `assistant <argv>` from inside the process, after the interpreter and imports are up.
TIMED = """
import json, sys, time
import assistant.cli as cli
cli.build_parser()  # imports every command module, as a normal start would
t0 = time.monotonic()
rc = cli.main(sys.argv[1:])
print(json.dumps({"rc": rc, "seconds": time.monotonic() - t0}), file=sys.stderr)
"""


class Holder:
    def __init__(self, data_dir: Path, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(data_dir), mode],
            env=subprocess_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("held"), line
        self.papers = int(line.split()[1])
        self.pid = self.proc.pid

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with a few papers, written by the FakeEmbedder (the holders use it too).
    Shared by the tests of this module: nothing here may change what it holds."""
    data_dir = tmp_path_factory.mktemp("locks") / "data"
    subprocess.run(
        [sys.executable, "-c", HOLD, str(data_dir), "setup", str(DATA / "sample.jsonl")],
        env=subprocess_env(),
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    return data_dir


@pytest.fixture()
def new_paper(tmp_path: Path) -> Path:
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"title": "A new paper", "abstract": "It says something."}) + "\n")
    return new


@pytest.fixture()
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for h in started:
        h.kill()


def assistant(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The real command, as a user runs it."""
    return subprocess.run(
        [str(ASSISTANT), *argv, "--data-dir", str(data_dir)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def timed(data_dir: Path, *argv: str) -> tuple[int, float, str]:
    proc = subprocess.run(
        [sys.executable, "-c", TIMED, *argv, "--data-dir", str(data_dir)],
        env=subprocess_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    return result["rc"], result["seconds"], proc.stderr


def test_writer_holds_the_store_other_commands_exit_3_at_once(
    store: Path, holders: list[Holder], new_paper: Path
) -> None:
    writer = Holder(store, "write")
    holders.append(writer)

    proc = assistant(store, "ingest", str(new_paper), "--json")
    assert proc.returncode == 3, proc.stderr
    assert f"store is in use by PID {writer.pid}" in proc.stderr
    assert "Traceback" not in proc.stderr
    err = json.loads(proc.stdout)
    assert err["exit_code"] == 3 and err["type"] == "StoreLockedError"

    for argv in (("ingest", str(new_paper), "--quiet"), ("papers", "list")):  # writer, reader
        rc, seconds, stderr = timed(store, *argv)
        assert rc == 3 and f"store is in use by PID {writer.pid}" in stderr, (argv, stderr)
        assert seconds < 1.0, (argv, seconds)  # at once, not after Chroma's ~1000 s hang

    # the lock dies with its process: SIGKILL, and the next writer gets in at once
    os.kill(writer.pid, signal.SIGKILL)
    writer.proc.wait(timeout=30)
    after = Holder(store, "write")
    holders.append(after)
    assert after.papers == writer.papers  # and the refused ingest wrote nothing


def test_readers_share_and_block_writers(
    store: Path, holders: list[Holder], new_paper: Path
) -> None:
    holders.append(Holder(store, "read"))
    second = Holder(store, "read")  # two readers at once: fine
    holders.append(second)
    assert second.papers == holders[0].papers > 0
    rc, seconds, stderr = timed(store, "ingest", str(new_paper), "--quiet")
    assert rc == 3 and "store is in use by" in stderr, stderr
    assert seconds < 1.0, seconds
