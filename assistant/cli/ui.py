"""The `assistant ui` command: serve the Gradio UI over the store (holds the write lock)."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.cli.common import command, model_flags
from assistant.config import Settings


def register(sub: Any) -> None:
    p = command(
        sub,
        "ui",
        cmd_ui,
        json_flag=False,
        help="open the chat UI in your browser (local only by default)",
        description=(
            "Serve the chat/papers/ingest UI. It binds 127.0.0.1 by default; another --host is "
            "refused unless authentication is configured (ASSISTANT_AUTH=user:password). "
            "While it runs it holds the data-dir lock, so other writers wait for it to stop "
            "(with a Chroma server, ASSISTANT_CHROMA_URL, it holds none)."
        ),
        epilog="examples:\n  assistant ui\n  assistant ui --port 7861 --data-dir ~/papers-store\n"
        "  ASSISTANT_AUTH=me:secret assistant ui --host 0.0.0.0",
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1; env ASSISTANT_HOST)")
    p.add_argument("--port", type=int, help="port (default 7860, 0 = any free port)")
    model_flags(p)


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
