"""The `assistant` command. Thin: parse flags, call the library, print. Exit codes live here.

Exit codes: 0 success; 1 nothing done or a user-fixable error; 2 usage error; 3 the store is in
use by another process; 4 the model is busy; 5 a server (Chroma or the model's) is down, too
slow, or broke its protocol.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from assistant.cli.common import (
    Handler,
    Parser,
    add_common,
    command,
    emit_json,
    json_line,
    model_flags,
    progress_factory,
    require,
    settings_from,
)
from assistant.errors import AssistantError

# httpx's __init__ imports its command-line client (click, rich, pygments: 30-90 ms of a cold
# start) and defines a stub ``httpx.main`` when that import fails; nothing here runs httpx's CLI.
# Set before any command module is imported, hence before httpx (vectorstore.chroma imports it).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__all__ = [
    "COMMAND_MODULES",
    "add_common",
    "build_parser",
    "command",
    "emit_json",
    "json_line",
    "main",
    "model_flags",
    "progress_factory",
    "require",
    "settings_from",
]

# The registration table: each module's ``register(sub)`` adds its commands through
# :func:`command`. A module that fails to import is an error, never skipped.
COMMAND_MODULES = (
    "assistant.cli.library",
    "assistant.cli.model",
    "assistant.cli.check",
    "assistant.cli.evaluate",
    "assistant.cli.ui",
    "assistant.cli.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = Parser(
        prog="assistant",
        description=(
            "Local, grounded Q&A and TL;DRs over paper abstracts. Everything runs on this "
            "machine: a quantized GGUF model, a MiniLM embedder (onnxruntime) and a Chroma store."
        ),
        epilog="Run `assistant COMMAND --help` for examples. Exit codes: 0 ok, 1 error or "
        "nothing done, 2 usage, 3 store in use, 4 model busy, 5 a server down or failing.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
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


if __name__ == "__main__":
    raise SystemExit(main())
