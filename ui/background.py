"""Missing TL;DRs, written in the background while the UI serves (no gradio here).

A fresh install should show every paper's TL;DR without anyone pressing a button, and a person
asking a question must not wait for a batch of 54 papers. So one worker thread writes the
missing TL;DRs one paper at a time through :meth:`Assistant.tldrs`, whose per-paper
background turn (:class:`assistant.turns.Turns`) lets any question take the model before the
next paper. The Papers tab polls :meth:`TldrWorker.progress` and re-reads the table as records
land in the journal.

``kick()`` (start-up, after an ingest, the "Generate missing TL;DRs" button) starts a run, or
asks the running one to look again for missing papers when it finishes its list; ``wait()``
lets the button's API report what the run wrote.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from assistant.errors import AssistantError
from assistant.service import Assistant
from assistant.types import Paper

__all__ = ["TldrProgress", "TldrWorker", "missing_tldrs"]

log = logging.getLogger(__name__)

State = Literal["idle", "running", "done", "failed", "stopped"]


def missing_tldrs(assistant: Assistant) -> list[Paper]:
    """Papers without a current TL;DR (none, or one written by another model/prompt/settings)."""
    provenance = assistant.tldr_config().provenance
    journal = assistant.journal
    return [p for p in assistant.library.papers() if not journal.is_current(p, provenance)]


@dataclass(frozen=True)
class TldrProgress:
    """A snapshot of the worker for the Papers tab: ``done`` of ``total`` papers this run."""

    state: State = "idle"
    done: int = 0
    total: int = 0
    written: int = 0  # TL;DRs written by this run (``done`` also counts papers skipped)
    current: str = ""  # title of the paper being written
    error: str = ""
    runs: int = 0  # finished runs, so a caller can tell a new result from an old one


class TldrWorker:
    """One background thread writing missing TL;DRs; safe to ``kick`` from any thread."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)
        self._progress = TldrProgress()
        self._thread: threading.Thread | None = None
        self._again = False  # papers may have been added since the running run listed them
        self._stop = threading.Event()

    def progress(self) -> TldrProgress:
        with self._lock:
            return self._progress

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def kick(self) -> None:
        """Write whatever is missing now; a run in progress looks again when it finishes."""
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is not None:
                self._again = True
                return
            self._again = False
            self._thread = threading.Thread(target=self._run, name="ui-tldrs", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> TldrProgress:
        """Block until no run is in progress (or ``timeout``); the last snapshot."""
        with self._finished:
            self._finished.wait_for(lambda: self._thread is None, timeout=timeout)
            return self._progress

    def run_now(
        self, on_progress: Callable[[TldrProgress], None] | None = None, poll_s: float = 0.5
    ) -> TldrProgress:
        """Kick and wait for the run to finish, reporting progress as it goes (the button)."""
        self.kick()
        while True:
            snapshot = self.wait(timeout=poll_s)
            if on_progress is not None:
                on_progress(snapshot)
            if not self.running:
                return self.progress()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the paper in flight (the UI is closing) and wait for the thread."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _set(self, **changes: object) -> None:
        with self._lock:
            self._progress = replace(self._progress, **changes)  # type: ignore[arg-type]

    def _run(self) -> None:
        try:
            while True:
                self._one_run()
                with self._lock:
                    if not self._again or self._stop.is_set():
                        self._thread = None
                        self._progress = replace(self._progress, runs=self._progress.runs + 1)
                        self._finished.notify_all()
                        return
                    self._again = False
        except BaseException:  # pragma: no cover - _one_run reports its own errors
            with self._lock:
                self._thread = None
                self._finished.notify_all()
            raise

    def _one_run(self) -> None:
        try:
            todo = missing_tldrs(self.assistant)[::-1]  # newest first, as the table shows
        except AssistantError as exc:
            self._set(state="failed", error=f"Cannot write TL;DRs: {exc}", current="")
            return
        except Exception as exc:  # never lost in the thread: shown in the Papers tab
            log.exception("listing missing TL;DRs failed")
            self._set(state="failed", error=f"Cannot write TL;DRs ({type(exc).__name__})")
            return
        self._set(state="running", done=0, total=len(todo), written=0, current="", error="")
        fresh: list[bool] = []

        def record(_tldr: object, reused: bool) -> None:
            fresh.append(not reused)

        for paper in todo:
            if self._stop.is_set():
                self._set(state="stopped", current="")
                return
            self._set(current=paper.title)
            fresh.clear()
            try:
                # one paper per call: its background turn lets a question in before the next
                self.assistant.tldrs([paper], on_done=record)
            except AssistantError as exc:
                done = self.progress().done
                self._set(state="failed", current="", error=f"Stopped after {done}: {exc}")
                return
            except Exception as exc:
                log.exception("writing a TL;DR failed")
                done = self.progress().done
                self._set(
                    state="failed",
                    current="",
                    error=f"Stopped after {done}: internal error ({type(exc).__name__})",
                )
                return
            snapshot = self.progress()
            self._set(done=snapshot.done + 1, written=snapshot.written + sum(fresh))
        self._set(state="done", current="")
