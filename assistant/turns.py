"""Who gets the model next: a person's question before the next paper of a background batch.

There is one model (one llama.cpp context behind :class:`~assistant.llm.stream.ModelGate`), and
the UI writes missing TL;DRs in the background while people ask questions. The gate serialises
single generations but is not fair: a batch releasing the lock between two TL;DR attempts could
take it straight back, so a question could wait for the whole batch. :class:`Turns` adds the
priority one level up, at the grain of work items:

* foreground work (a question, an ingest) waits only for the batch item in flight (one paper),
  never for the rest of the batch; foreground callers do not wait for each other here (the gate
  and its bounded queue already serialise their model calls and report overload);
* a background item starts only when no foreground work is running or waiting, so a question
  that arrives during paper N is answered before paper N+1 starts.

stdlib only; any process that mixes questions with batch work can share one ``Turns``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Turns"]


class Turns:
    """Foreground work preempts background work between items (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._foreground = 0  # running or waiting
        self._background = False  # a background item is running

    @property
    def foreground(self) -> int:
        """Foreground callers running or waiting now."""
        return self._foreground

    @contextmanager
    def foreground_turn(self) -> Iterator[None]:
        """Hold while doing foreground work; waits at most for the background item in flight."""
        with self._cond:
            self._foreground += 1
            try:
                self._cond.wait_for(lambda: not self._background)
            except BaseException:
                self._foreground -= 1
                self._cond.notify_all()
                raise
        try:
            yield
        finally:
            with self._cond:
                self._foreground -= 1
                self._cond.notify_all()

    @contextmanager
    def background_turn(self) -> Iterator[None]:
        """Hold for one background item; starts once no foreground work runs or waits."""
        with self._cond:
            self._cond.wait_for(lambda: self._foreground == 0 and not self._background)
            self._background = True
        try:
            yield
        finally:
            with self._cond:
                self._background = False
                self._cond.notify_all()
