"""``import chromadb`` without the import-time self-checks of its ``overrides`` decorator.

chromadb marks its implementations' methods with ``overrides.override``/``overrides``, which,
as each class body runs, disassembles the calling frame to find the class's bases and compares
the method's signature with the base's: about 90 ms of a 0.56 s ``import chromadb`` here (min
of 10 runs, docs/PERFORMANCE.md), on a cold `assistant ask`'s main thread. The checks only catch
mistakes in chromadb's own code, so while chromadb is first imported the decorator just marks
the method as overriding (what its ``EnforceOverrides`` metaclass looks for); the originals are
put back afterwards, so nothing imported later loses them.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = ["import_chromadb", "mark_override"]

_lock = threading.Lock()


def mark_override(method: Any = None, **_options: Any) -> Any:
    """What ``@override``, ``@overrides`` and ``@overrides(check_signature=False)`` do here."""
    if method is None:
        return mark_override
    method.__override__ = True
    return method


@contextmanager
def _unchecked_overrides() -> Iterator[None]:
    try:
        import overrides
    except ImportError:  # chromadb then fails its own import, with its own message
        yield
        return
    saved = {name: getattr(overrides, name) for name in ("override", "overrides")}
    for name in saved:
        setattr(overrides, name, mark_override)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(overrides, name, value)


def import_chromadb() -> ModuleType:
    """The ``chromadb`` module, imported on the first call as described above."""
    with _lock:
        if "chromadb" not in sys.modules:
            with _unchecked_overrides():
                import chromadb
        import chromadb  # (waits if another thread is still importing it)

        return chromadb
