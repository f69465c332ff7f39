"""Is this install healthy? Each check says what it found and, when something is off, how to fix it.

`assistant doctor` exists so a user learns about a broken model file, a stale converted copy, a
store built by another Chroma version or a full disk from one report, not from a traceback or a
slow first answer. The checks must be fast (no model load, no chromadb/onnxruntime import:
versions come from package metadata) and read-only: only ``fix=True`` builds the derived files
(the re-encoded model, the embedder graph) or creates the data dir.

Everything a check asks the machine goes through :class:`Environment`, so a unit test can
fake any one answer (a wrong hash, an old Python, no Chromium) and see that check fail. Each
check is a function of :class:`Context` listed in :data:`CHECKS`; adding one is one function
and one entry.
"""

from __future__ import annotations

from assistant.doctor.checks import CHECKS, CHROMIUM, Check, CheckFn, Context, Report, run_checks
from assistant.doctor.environment import Environment, LocalEnvironment

__all__ = [
    "CHECKS",
    "CHROMIUM",
    "Check",
    "CheckFn",
    "Context",
    "Environment",
    "LocalEnvironment",
    "Report",
    "run_checks",
]
