"""How many threads the next model call should use, given what else keeps the CPUs busy.

llama.cpp's threads meet at a barrier after every step, so a thread the OS deschedules for
another process stalls all of them: on 2 cores beside one busy process, 2 threads ran at a
fraction of the speed 1 thread did (docs/PERFORMANCE.md). Before each call the policy measures
the other processes' load since its last decision — busy CPU time from /proc/stat minus this
process's own CPU time — and uses the CPUs this process may run on minus the cores that load
fills. Reading /proc/stat costs microseconds and never blocks; where it is missing (not Linux)
the policy keeps every allowed CPU, as before.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.files import cpu_threads

PROC_STAT = Path("/proc/stat")
MIN_WINDOW_S = 0.2  # a shorter window says too little: keep the last decision
# Other load must fill this much of a core before a thread gives way to it, and drop under
# it again before the thread comes back (hysteresis, so a flicker does not flip the count).
GIVE_WAY = 0.6


def _cpu_jiffies(path: Path = PROC_STAT) -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs, or None when /proc/stat cannot be read."""
    try:
        first = path.read_text("ascii").split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


class ThreadPolicy:
    """``fixed`` (the ``n_threads`` setting) wins; otherwise adaptive, decided per call."""

    def __init__(self, fixed: int | None = None, *, stat: Path = PROC_STAT) -> None:
        self.fixed = fixed
        self.stat = stat
        self.allowed = cpu_threads()
        self.current = fixed or self.allowed
        self._last: tuple[float, float, tuple[int, int]] | None = None
        self.other_load = 0.0  # cores other processes kept busy in the last window

    def decide(self) -> int:
        if self.fixed:
            return self.fixed
        jiffies = _cpu_jiffies(self.stat)
        if jiffies is None:
            return self.current
        now, own = time.monotonic(), time.process_time()
        last, self._last = self._last, (now, own, jiffies)
        if last is None or now - last[0] < MIN_WINDOW_S:
            if last is not None:
                self._last = last  # keep the older start: the window grows until long enough
            return self.current
        busy = jiffies[0] - last[2][0]
        total = jiffies[1] - last[2][1]
        if total <= 0:
            return self.current
        cores = os.cpu_count() or self.allowed
        busy_cores = cores * busy / total
        own_cores = (own - last[1]) / (now - last[0])
        self.other_load = max(0.0, busy_cores - own_cores)
        free = self.allowed - self.other_load
        if free < self.current - GIVE_WAY:  # give a core away
            self.current = max(1, int(free + GIVE_WAY))
        elif free >= self.current + 1 - (1 - GIVE_WAY):  # take one back
            self.current = min(self.allowed, self.current + 1)
        return self.current


# Loading a model makes hundreds of llama.cpp log callbacks and ctypes calls, each taking the GIL
# back. Beside a thread busy in Python (a cold start's imports) each waited up to the switch
# interval (5 ms): Llama() took 1.0-1.2 s in the preload thread instead of 0.2-0.3 s. For the
# load only, the busy thread is asked to hand the GIL over after this long instead.
LOAD_SWITCH_INTERVAL_S = 0.0002


@contextmanager
def quick_gil_handoff(interval_s: float = LOAD_SWITCH_INTERVAL_S) -> Iterator[None]:
    """A shorter interpreter switch interval (never a longer one) until the block ends."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, interval_s))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
