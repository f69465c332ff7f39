"""What `assistant doctor` asks the machine, behind one Protocol so the tests can fake any answer.

:class:`LocalEnvironment` is the real machine. Versions come from package metadata, so neither
chromadb nor onnxruntime is imported; llama.cpp is asked for its build features through
:func:`assistant.llm.llama.system_info` (the one module that imports it); the builders run only
for ``--fix``.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from assistant.llm.files import DEFAULT_MODEL_SHA256, default_model_path
from assistant.llm.runtime import BUNDLED_RUNTIME_SHA256

__all__ = ["Environment", "LocalEnvironment"]


class Environment(Protocol):
    """What the checks ask the machine (files are read directly: tests use real temp files)."""

    def python_version(self) -> tuple[int, int, int]: ...
    def package_version(self, distribution: str) -> str | None: ...
    def llama_system_info(self) -> str: ...
    def cpu_flags(self) -> set[str] | None: ...
    def bundled_model(self) -> Path: ...
    def embedder_dir(self) -> Path: ...
    def graph_path(self, model_dir: Path, cache_dir: Path) -> Path: ...
    def free_bytes(self, path: Path) -> int: ...
    def writable(self, path: Path) -> bool: ...
    def executable(self, path: Path) -> bool: ...
    def reach(self, url: str, headers: dict[str, str]) -> str | None: ...
    def build_runtime(self, source: Path, sha256: str, kind: str, cache_dir: Path) -> None: ...
    def build_graph(self, model_dir: Path, cache_dir: Path) -> None: ...


class LocalEnvironment:
    """This machine. Heavy modules are imported only by the call that needs them."""

    def python_version(self) -> tuple[int, int, int]:
        return sys.version_info[:3]

    def package_version(self, distribution: str) -> str | None:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def llama_system_info(self) -> str:
        from assistant.llm.llama import system_info

        return system_info()

    def cpu_flags(self) -> set[str] | None:
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
        return None

    def bundled_model(self) -> Path:
        return default_model_path()

    def embedder_dir(self) -> Path:
        from assistant.embedding.weights import default_embedder_dir

        return default_embedder_dir()

    def graph_path(self, model_dir: Path, cache_dir: Path) -> Path:
        from assistant.embedding.onnx_encoder import graph_path

        return graph_path(model_dir, cache_dir)

    def free_bytes(self, path: Path) -> int:
        return shutil.disk_usage(path).free

    def writable(self, path: Path) -> bool:
        return path.is_dir() and os.access(path, os.W_OK | os.X_OK)

    def executable(self, path: Path) -> bool:
        return path.is_file() and os.access(path, os.X_OK)

    def reach(self, url: str, headers: dict[str, str]) -> str | None:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=2.0) as response:  # noqa: S310
                response.read(256)
        except urllib.error.HTTPError as exc:
            return (
                f"HTTP {exc.code} from {url}" if exc.code in (401, 403) or exc.code >= 500 else None
            )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"cannot reach {url}: {reason}"
        return None

    def build_runtime(self, source: Path, sha256: str, kind: str, cache_dir: Path) -> None:
        from assistant.llm.llama import llama_convert
        from assistant.llm.runtime import prepare

        pinned = BUNDLED_RUNTIME_SHA256.get(kind) if sha256 == DEFAULT_MODEL_SHA256 else None
        prepare(source, sha256, kind, cache_dir, pinned=pinned, convert=llama_convert)

    def build_graph(self, model_dir: Path, cache_dir: Path) -> None:
        from assistant.embedding.onnx_encoder import cached_graph

        cached_graph(model_dir, cache_dir)
