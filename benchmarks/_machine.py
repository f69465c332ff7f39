"""Shared helpers for the benchmark scripts: machine description, timers, percentiles, output.

Every benchmark prints the machine (CPU model, cores the process may use, threads given to
llama.cpp) and the load average before and after it ran: these machines are often shared, and a
number taken under load is only comparable with numbers measured side by side in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assistant" / "data" / "hf_daily_sample.txt"
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` from anywhere
    sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine(threads: int | None = None) -> dict[str, Any]:
    from assistant.files import cpu_threads

    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": cpu_threads(),
        "llm_threads": threads if threads is not None else cpu_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_start": load_average(),
    }
    try:
        import llama_cpp

        info["llama_cpp_python"] = llama_cpp.__version__
    except ImportError:
        pass
    return info


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Sequence[float], digits: int = 4) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "mean": round(statistics.fmean(values), digits) if values else 0.0,
        "max": round(max(values), digits) if values else 0.0,
    }


@dataclass
class Clock:
    """Accumulates wall and process-CPU seconds over several timed sections."""

    wall: float = 0.0
    cpu: float = 0.0
    sections: int = 0
    laps: list[float] = field(default_factory=list)

    @contextmanager
    def run(self) -> Iterator[None]:
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            dw = time.perf_counter() - w0
            self.wall += dw
            self.cpu += time.process_time() - c0
            self.sections += 1
            self.laps.append(dw)

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall, 3), "cpu_s": round(self.cpu, 3)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def emit(result: dict[str, Any], as_json: bool, lines: Sequence[str]) -> None:
    result.setdefault("machine", {})["load_avg_end"] = load_average()
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    m = result["machine"]
    print(
        f"machine: {m['cpu_model']}, {m['cpus_usable']} usable CPUs, "
        f"llama.cpp threads {m['llm_threads']}; load average "
        f"{m['load_avg_start']} -> {m['load_avg_end']}"
    )
    for line in lines:
        print(line)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
