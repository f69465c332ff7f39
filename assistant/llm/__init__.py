"""The chat-model seam's adapters: llama.cpp in-process (:mod:`.llama`, the only module that
imports ``llama_cpp``), with :mod:`.stream` (the bounded model gate, token streaming with stop
strings, the loop guard), :mod:`.files` (locating and verifying GGUFs) and :mod:`.runtime` (the
faster re-encoding of the bundled weights) beside it. Importing this package loads no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.llm.llama import LocalLLM

__all__ = ["LocalLLM"]


def __getattr__(name: str) -> Any:
    if name == "LocalLLM":
        from assistant.llm.llama import LocalLLM

        return LocalLLM
    raise AttributeError(name)
