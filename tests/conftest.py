"""Shared fixtures. Fakes live in assistant/testing.py; this file only isolates the environment and
shares the few expensive things (the real embedder, the parsed sample, one ingested store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.embedding.minilm import MiniLMEmbedder
from assistant.sources import parse_file
from assistant.types import Paper
from vectorstore.chroma import ChromaStore

ROOT = Path(__file__).resolve().parents[1]
ASSISTANT = Path(sys.executable).with_name("assistant")

# Loaded by every subprocess that gets `PYTHONPATH=<its dir>`: any connection to a
# non-loopback address is logged to $NET_LOG and refused.
_NO_NETWORK = """
import os, socket
def _guard(real):
    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1"):
            with open(os.environ["NET_LOG"], "a") as fh:
                fh.write(f"{address}\\n")
            raise OSError(f"network access blocked by the test suite: {address}")
        return real(self, address)
    return connect
socket.socket.connect = _guard(socket.socket.connect)
socket.socket.connect_ex = _guard(socket.socket.connect_ex)
"""


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data dir and no ASSISTANT_* settings or config file."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # no default config.toml
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield data_dir


@pytest.fixture()
def mem_store() -> ChromaStore:
    """An in-memory store. EphemeralClients in one process share state, so each test gets a
    collection of its own."""
    return ChromaStore(None, f"t-{uuid.uuid4().hex}")


@pytest.fixture(scope="session")
def real_embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return ROOT / "assistant" / "data" / "hf_daily_sample.txt"


@pytest.fixture(scope="session")
def sample_papers(sample_path: Path) -> list[Paper]:
    return parse_file(sample_path).papers


@dataclass(frozen=True)
class OfflineIngest:
    data_dir: Path  # treat as read-only; copy it (shutil.copytree) before changing anything
    returncode: int
    report: dict[str, Any]  # the --json output of the ingest
    stderr: str
    cache_dirs: list[Path]  # HOME, XDG_CACHE_HOME, HF_HOME of the run: all empty at the start
    net_log: Path


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory, sample_path: Path) -> OfflineIngest:
    """The bundled sample, ingested once per session with the real embedder by `assistant
    ingest` in a subprocess that is offline: hub switches set, fresh empty HOME / cache dirs,
    and sockets to anything but loopback refused and logged."""
    base = tmp_path_factory.mktemp("offline")
    caches = [base / "home", base / "xdg-cache", base / "hf-home"]
    for d in caches:
        d.mkdir()
    site = base / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_NO_NETWORK)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(caches[0]),
        "XDG_CACHE_HOME": str(caches[1]),
        "HF_HOME": str(caches[2]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
        "NET_LOG": str(base / "net.log"),
    }
    env |= {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_"))}
    data_dir = base / "data"
    proc = subprocess.run(
        [str(ASSISTANT), "ingest", str(sample_path), "--data-dir", str(data_dir), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return OfflineIngest(data_dir, proc.returncode, report, proc.stderr, caches, base / "net.log")


# ---- servers (tests marked `server`): started once per session on free loopback ports --------


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A `chroma run` server; tests isolate themselves by collection name."""
    from assistant.servers import chroma_server as make
    from assistant.servers import free_port

    base = tmp_path_factory.mktemp("chroma-server")
    with make(base / "db", port=free_port(), log=base / "chroma.log") as server:
        yield server


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """llama-cpp-python's OpenAI-compatible server with the bundled model (as run in-process)."""
    from assistant.config import Settings
    from assistant.servers import free_port
    from assistant.servers import model_server as make

    base = tmp_path_factory.mktemp("model-server")
    with make(Settings(data_dir=base), port=free_port(), log=base / "model.log") as server:
        yield server
