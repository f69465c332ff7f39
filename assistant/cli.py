"""The `assistant` command. Thin: parse flags, call the library, print. Exit codes live here.

Exit codes: 0 success; 1 nothing done or a user-fixable error; 2 usage error; 3 the store is in
use by another process; 4 the model is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.config import Settings, load_settings
from assistant.errors import AssistantError, UsageError

Handler = Callable[[argparse.Namespace, Settings], int]

_MODULES = (
    "assistant.cli_library",
    "assistant.cli_model",
    "assistant.cli_extra",
    "assistant.cli_ui",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 already; keep its message
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument("--data-dir", type=Path, help="store location (env ASSISTANT_DATA_DIR)")
    p.add_argument("--config", type=Path, help="TOML settings file (env ASSISTANT_CONFIG_FILE)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {"data_dir": getattr(args, "data_dir", None)}
    for key in ("model_path", "n_ctx", "n_threads", "top_k", "host", "port"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    overrides.update(extra)
    return load_settings(getattr(args, "config", None), **overrides)


# Characters JSON allows raw inside strings but line splitters (str.splitlines, old JavaScript)
# treat as line breaks: escaped, so one object is always exactly one line.
LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def json_line(obj: Any) -> str:
    """``obj`` as one line of JSON (UTF-8 kept readable) that every line splitter agrees on."""
    text = json.dumps(obj, ensure_ascii=False)
    for raw, escaped in LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text + "\n"


def emit_json(obj: Any) -> None:
    sys.stdout.write(json_line(obj))
    sys.stdout.flush()


def progress_factory(enabled: bool) -> Callable[[int, str], Callable[[int], None]]:
    """tqdm bars on stderr (ETA included); silent when stderr is not a terminal."""

    def make(total: int, desc: str) -> Callable[[int], None]:
        from tqdm import tqdm

        bar = tqdm(
            total=total, desc=desc, unit="paper", file=sys.stderr, disable=not enabled or None
        )

        def tick(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return tick

    return make


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="assistant",
        description=(
            "Local, grounded Q&A and TL;DRs over paper abstracts. Everything runs on this "
            "machine: a quantized GGUF model, a numpy embedder and a Chroma store."
        ),
        epilog="Run `assistant COMMAND --help` for examples. Exit codes: 0 ok, 1 error or "
        "nothing done, 2 usage, 3 store in use, 4 model busy.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Nothing may download at run time; these make any stray hub client fail fast instead.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    wants_json = bool(getattr(args, "json", False))
    try:
        settings = settings_from(args)
        return handler(args, settings)
    except AssistantError as exc:
        if wants_json:
            emit_json({"error": str(exc), "type": type(exc).__name__, "exit_code": exc.exit_code})
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def require(cond: bool, message: str) -> None:
    if not cond:
        raise UsageError(message)


if __name__ == "__main__":
    raise SystemExit(main())
