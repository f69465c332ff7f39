"""What every command module shares: the common flags, the model flags, one-call command
registration, settings from flags, and JSON / progress output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.config import Settings, load_settings
from assistant.errors import UsageError

__all__ = [
    "Handler",
    "Parser",
    "add_common",
    "command",
    "emit_json",
    "json_line",
    "model_flags",
    "progress_factory",
    "require",
    "settings_from",
]

Handler = Callable[[argparse.Namespace, Settings], int]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 already; keep its message
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument("--data-dir", type=Path, help="store location (env ASSISTANT_DATA_DIR)")
    p.add_argument("--config", type=Path, help="TOML settings file (env ASSISTANT_CONFIG_FILE)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def model_flags(p: argparse.ArgumentParser) -> None:
    """The model flags, spelt the same on every command (``--model-path`` is an old alias)."""
    p.add_argument(
        "--model",
        "--model-path",
        dest="model_path",
        type=Path,
        metavar="PATH",
        help="GGUF file instead of the bundled SmolLM2-135M (env ASSISTANT_MODEL_PATH)",
    )
    p.add_argument("--n-ctx", dest="n_ctx", type=int, help="context window in tokens")
    p.add_argument("--threads", dest="n_threads", type=int, help="CPU threads for the model")


def command(
    sub: Any,
    name: str,
    handler: Handler,
    *,
    help: str,
    epilog: str,
    description: str | None = None,
    json_flag: bool = True,
) -> argparse.ArgumentParser:
    """Add one command: help with examples (kept as written), the common flags, its handler."""
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p, json_flag=json_flag)
    p.set_defaults(handler=handler)
    return p


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


def require(cond: bool, message: str) -> None:
    if not cond:
        raise UsageError(message)
