"""The `assistant ui` command: serve the Gradio UI over the store (holds the write lock)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from assistant.cli import add_common
from assistant.config import Settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ui",
        help="open the chat UI in your browser (local only by default)",
        description=(
            "Serve the chat/papers/ingest UI. It binds 127.0.0.1 by default; another --host is "
            "refused unless authentication is configured (ASSISTANT_AUTH=user:password). "
            "While it runs it holds the data-dir lock, so other writers wait for it to stop."
        ),
        epilog="examples:\n  assistant ui\n  assistant ui --port 7861 --data-dir ~/papers-store\n"
        "  ASSISTANT_AUTH=me:secret assistant ui --host 0.0.0.0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1; env ASSISTANT_HOST)")
    p.add_argument("--port", type=int, help="port (default 7860, 0 = any free port)")
    p.add_argument("--model-path", type=Path, help="GGUF model to use instead of the bundled one")
    add_common(p, json_flag=False)
    p.set_defaults(handler=cmd_ui)


def cmd_ui(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.service import Assistant
    from ui.app import launch
    from ui.guard import check_bind

    check_bind(settings.host, settings.auth)  # fail before opening the store or importing more
    with Assistant(settings, write=True) as assistant:
        try:
            launch(assistant, settings)
        except KeyboardInterrupt:
            print("stopped")
    return 0
