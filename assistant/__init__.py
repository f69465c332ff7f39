"""Local, grounded Q&A and one-line TL;DRs over paper abstracts.

Heavy collaborators (llama.cpp, Chroma, the embedder) load lazily, so importing this package is
cheap. Typical use::

    from assistant import Assistant, load_settings

    with Assistant(load_settings()) as a:
        print(a.ask("How many parameters does Cappy have?").answer)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# onnxruntime (the embedder's encoder; chromadb imports it too) otherwise writes a device id and
# an event database under ~/.cache/Microsoft on import. Nothing here may leave such traces.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from assistant.config import Settings, load_settings
from assistant.errors import AssistantError
from assistant.types import Answer, Citation, Hit, Paper, Tldr

if TYPE_CHECKING:
    from assistant.service import Assistant

__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "Citation",
    "Hit",
    "Paper",
    "Settings",
    "Tldr",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from assistant.service import Assistant

        return Assistant
    raise AttributeError(name)
