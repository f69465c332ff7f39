"""CPU contention: question and TL;DR batches idle and beside CPU-bound processes, per thread count.

    python benchmarks/contention.py [--threads auto,1,2] [--questions 12] [--papers 8]
        [--rounds 2] [--two] [--max-slowdown 4] [--omp-wait-policy active|passive]
        [--data-dir DIR] [--quick] [--json]

One ``Assistant`` (real model and embedder, the sample corpus ingested once into a temporary
data dir unless ``--data-dir`` holds a store) runs two batches: ``Assistant.ask`` over the first
``--questions`` questions of evals/fixtures/qa_answerable.jsonl, and ``Assistant.tldrs`` over the
first ``--papers`` papers of the library (``persist=False``, so every TL;DR is written again).
Each batch runs under every condition:

* ``idle``   nothing else started by the benchmark;
* ``yes``    beside one ``yes > /dev/null`` (CPU-bound, a write syscall per buffer);
* ``busy``   beside one ``sh -c 'while :; do :; done'`` (CPU-bound, no syscalls at all);
* ``yes2``, ``busy2`` (with ``--two``): two of each.

and with every thread setting of ``--threads``: ``auto`` is what ``LocalLLM`` picks today
(``n_threads`` unset: the CPUs in this process's affinity), numbers are fixed counts; a count
equal to ``auto``'s is run once. The settings share one loaded model: before each batch the
context's thread counts (generation and batch) are set with ``llama_set_n_threads`` and read
back. There is no thread policy in the code yet (``Settings.n_threads`` is a number or unset).

Interleaving: the batches are cut into ``--rounds`` slices (every rounds-th item); each round
runs its slice under every condition in turn (idle first) and, within a condition, every thread
setting (the order reversed on odd rounds). Over the run each condition and setting sees each
whole batch once, and load drift hits all of them alike. One untimed pass of both batches warms
the caches (sentence vectors, tokenisations) first, and every batch starts from an empty KV
cache, so its prompts do not depend on what ran before it. A 135M model's greedy text can still
differ between thread counts (float rounding): the ``tok`` column shows generated tokens, and a
note says when the work differed.

Competing processes are started per batch, checked (alive, our child, the expected command,
taking CPU) after ``--settle`` seconds, and always stopped and reaped afterwards, on errors and
Ctrl-C too (SIGTERM and SIGHUP are turned into an exit; ``setpriv --pdeathsig KILL`` makes them
die with this process where util-linux is installed). A batch beside competitors that runs past
``--max-slowdown`` times its idle wall time (same slice, same threads) has its competitors
stopped so the run ends: it is reported as capped, its time as a lower bound (``>``) and its
ratios as upper bounds (``<``).

Reported per condition and thread setting, for questions and TL;DRs: wall seconds (summed over
rounds); the throughput ratio against idle with the same threads (idle wall / wall); against the
best thread setting in that condition (best wall / wall, 1.00 for the best); and against idle
with today's automatic choice, the issue's goal (>= 0.6x with one busy core). Per batch (JSON):
process CPU, model calls, tokens, prefill and decode seconds, the competitors' CPU (in cores)
and the rest of the machine's load (in cores, from /proc/stat): a check that "idle" was idle.
Comparing ``--omp-wait-policy`` values (libgomp reads OMP_WAIT_POLICY once, when llama.cpp
loads) takes one run each; compare their ratios, not their seconds.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from _machine import emit, log, machine
from _store import sample_data_dir

CONDITIONS: dict[str, list[list[str]]] = {
    "idle": [],
    "yes": [["yes"]],
    "busy": [["sh", "-c", "while :; do :; done"]],
    "yes2": [["yes"], ["yes"]],
    "busy2": [["sh", "-c", "while :; do :; done"]] * 2,
}
BATCHES = ("questions", "tldrs")
ENV_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "OMP_PROC_BIND")
CAP_FLOOR_S = 10.0  # never cap a batch sooner than this (short --quick slices)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- /proc readers ---------------------------------------------------------------------------
def cpu_jiffies(cpus: set[int]) -> int:
    """Busy jiffies (everything but idle and iowait; steal counts as busy) of ``cpus``."""
    busy = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                continue
            v = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
            busy += sum(v) - v[3] - v[4]
    return busy


def proc_stat(pid: int) -> tuple[str, int, float]:
    """(state, parent pid, CPU seconds) of ``pid`` from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    rest = text[text.rindex(")") + 2 :].split()  # the command name may contain spaces
    return rest[0], int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


# --- competing processes ---------------------------------------------------------------------
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` (TERM, then KILL) and wait for it; it is ours, started by spawn()."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    with _LIVE_LOCK:
        _LIVE.discard(proc)


def reap_all() -> None:
    """Every competitor still running, stopped: called in finally blocks and at exit."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            _reap(proc)
        except Exception as exc:  # keep reaping the others
            log(f"could not stop competitor pid {proc.pid}: {exc}")


atexit.register(reap_all)


def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start one competitor (output to /dev/null) and check its PID is what we started."""
    prefix = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
    proc = subprocess.Popen([*prefix, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    expected = os.path.basename(argv[0])[:15]  # /proc/PID/comm is cut at 15 characters
    deadline = time.monotonic() + 3.0
    comm = ""
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            comm = Path(f"/proc/{proc.pid}/comm").read_text().strip()
        except OSError:
            comm = ""
        if comm == expected:  # setpriv has exec'd the command in the same process
            break
        time.sleep(0.01)
    try:
        _, ppid, _ = proc_stat(proc.pid)
    except (OSError, ValueError, IndexError):
        ppid = -1
    if proc.poll() is not None or comm != expected or ppid != os.getpid():
        _reap(proc)
        raise RuntimeError(
            f"competitor {' '.join(argv)!r} did not start as expected "
            f"(pid {proc.pid}, comm {comm!r}, parent {ppid}, exit code {proc.returncode})"
        )
    return proc


class Competitors:
    """The processes of one condition for one batch; started on enter, always reaped on exit.

    ``cap(seconds)`` stops them early from a timer thread (the batch then finishes alone)."""

    def __init__(self, commands: Sequence[Sequence[str]], settle: float) -> None:
        self.commands = commands
        self.settle = settle
        self.procs: list[subprocess.Popen[bytes]] = []
        self.capped = False
        self.notes: list[str] = []
        self._cpu0: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Competitors:
        try:
            for argv in self.commands:
                self.procs.append(spawn(argv))
            if self.procs:
                t0 = time.monotonic()
                cpu0 = {p.pid: proc_stat(p.pid)[2] for p in self.procs}
                time.sleep(self.settle)
                dt = time.monotonic() - t0
                for p in self.procs:
                    state, _, cpu = proc_stat(p.pid)
                    if p.poll() is not None:
                        raise RuntimeError(f"competitor pid {p.pid} exited during the settle time")
                    share = (cpu - cpu0[p.pid]) / dt
                    if share < 0.5:
                        self.notes.append(f"pid {p.pid} took only {share:.0%} of a core (settle)")
                    self._cpu0[p.pid] = self._cpu_last[p.pid] = cpu
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def start_cap(self, seconds: float) -> None:
        if self.procs:
            self._timer = threading.Timer(seconds, self._cap)
            self._timer.daemon = True
            self._timer.start()

    def end_cap(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _cap(self) -> None:
        self.capped = True
        self._stop()

    def _sample(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    self._cpu_last[p.pid] = proc_stat(p.pid)[2]

    def cpu_seconds(self) -> float:
        """CPU seconds the competitors used since the batch started (up to their stop)."""
        with self._lock:
            self._sample()
            return sum(self._cpu_last[pid] - c0 for pid, c0 in self._cpu0.items())

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def _stop(self) -> None:
        self.end_cap()
        with self._lock:
            self._sample()
            for p in self.procs:
                _reap(p)
            for p in self.procs:
                if p.returncode is None:
                    raise RuntimeError(f"competitor pid {p.pid} is still running")


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that reap competitors


# --- the benchmark ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """A thread setting under test. ``fixed``: one count for the whole batch (a policy that
    re-decides per call would not be); the "best fixed" ratio compares fixed settings only."""

    label: str
    threads: int
    fixed: bool = True


@dataclass
class Cell:
    """One batch kind under one condition and setting, summed over rounds."""

    wall: float = 0.0
    capped: bool = False
    rounds: list[dict[str, Any]] = field(default_factory=list)


def parse_settings(text: str, auto: int) -> tuple[list[Setting], list[str]]:
    out: list[Setting] = []
    notes: list[str] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if token == "auto":
            setting = Setting(f"auto={auto}", auto)
        elif token == "policy":
            setting = Setting("policy", auto, fixed=False)
        elif token.isdigit() and int(token) >= 1:
            setting = Setting(token, int(token))
        else:
            raise ValueError(f"--threads: {token!r} is neither 'auto' nor a positive count")
        twin = next(
            (s for s in out if s.threads == setting.threads and s.fixed and setting.fixed), None
        )
        if twin is not None:
            notes.append(f"{setting.label} threads is run once, as {twin.label}")
            continue
        out.append(setting)
    if not out:
        raise ValueError("--threads names no setting")
    return out, notes


def set_threads(llm: Any, n: int) -> None:
    """Set the loaded context's generation and batch thread counts and check they took."""
    import llama_cpp

    ctx = llm._llama.ctx  # LocalLLM keeps one long-lived llama_cpp.Llama
    llama_cpp.llama_set_n_threads(ctx, n, n)
    got = (llama_cpp.llama_n_threads(ctx), llama_cpp.llama_n_threads_batch(ctx))
    if got != (n, n):
        raise RuntimeError(f"llama_set_n_threads({n}) left the context at {got}")
    llm.n_threads = n


def run_batch(
    asst: Any, kind: str, items: Sequence[Any], competitors: Competitors, cap: float | None
) -> dict[str, Any]:
    """Run one slice of a batch and measure it (the caller has set the thread count)."""
    llm = asst.llm
    cpus = os.sched_getaffinity(0)
    llm.stats.reset()
    reused: list[bool] = []
    abstained = 0
    llm._llama.reset()  # every batch starts from an empty KV cache: same prompts, same work
    if cap is not None:
        competitors.start_cap(cap)
    j0, c0, t0 = cpu_jiffies(cpus), time.process_time(), time.perf_counter()
    if kind == "questions":
        for q in items:
            abstained += bool(asst.ask(q).abstained)
    else:
        asst.tldrs(items, persist=False, on_done=lambda _r, was_reused: reused.append(was_reused))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    competitors.end_cap()
    # a cap that fired only after the batch had ended did not shorten anything
    capped = competitors.capped and cap is not None and wall >= cap
    alive_at_end = competitors.alive()
    comp_cpu = competitors.cpu_seconds()
    busy = (cpu_jiffies(cpus) - j0) / CLK_TCK
    if any(reused):
        raise RuntimeError("a TL;DR came from the journal: the batch would not run the model")
    st = llm.stats
    return {
        "items": len(items),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "capped": capped,
        "cap_s": None if cap is None else round(cap, 1),
        "competitors_exited_early": bool(competitors.procs)
        and not alive_at_end
        and not competitors.capped,  # stopped by a late cap is not "early"
        "competitor_cores": round(comp_cpu / wall, 2) if wall else 0.0,
        "other_load_cores": round(max(0.0, busy - cpu - comp_cpu) / wall, 2) if wall else 0.0,
        "abstained": abstained,
        "model": {
            "calls": st.calls,
            "prompt_tokens": st.prompt_tokens,
            "reused_tokens": st.reused_tokens,
            "completion_tokens": st.completion_tokens,
            "prefill_s": round(st.prefill_s, 3),
            "decode_s": round(st.decode_s, 3),
        },
        "notes": competitors.notes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The default run takes roughly 6-10 minutes on 2 cores; --two adds about as much.",
    )
    ap.add_argument(
        "--threads",
        default="policy,auto,1",
        help="comma-separated thread settings: 'policy' (LocalLLM re-deciding per call from "
        "the other processes' load), 'auto' (every allowed CPU, fixed) and counts",
    )
    ap.add_argument("--questions", type=int, default=12, help="fixture questions (first N)")
    ap.add_argument("--papers", type=int, default=8, help="library papers to TL;DR (first N)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (batch slices)")
    ap.add_argument("--two", action="store_true", help="also beside two of each competitor")
    ap.add_argument(
        "--max-slowdown",
        type=float,
        default=4.0,
        help="stop a batch's competitors once it has run this many times its idle time",
    )
    ap.add_argument(
        "--settle", type=float, default=0.5, help="seconds competitors run before a batch"
    )
    ap.add_argument(
        "--omp-wait-policy",
        choices=("active", "passive"),
        default=None,
        help="set OMP_WAIT_POLICY for llama.cpp's OpenMP threads (whole run)",
    )
    ap.add_argument("--data-dir", type=Path, default=None, help="a data dir with a store")
    ap.add_argument(
        "--quick", action="store_true", help="smoke test: 3 questions, 2 TL;DRs, one round"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.quick:
        args.questions, args.papers, args.rounds = 3, 2, 1
    if args.rounds < 1 or args.questions < args.rounds or args.papers < args.rounds:
        ap.error("need --rounds >= 1 and at least one question and one paper per round")
    if args.max_slowdown <= 1:
        ap.error("--max-slowdown must be above 1")
    missing = [c for c in ("yes", "sh") if shutil.which(c) is None]
    if missing:
        ap.error(f"not found on PATH: {', '.join(missing)}")
    if args.omp_wait_policy:  # before llama_cpp (and with it libgomp) is loaded
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()

    previous = {s: signal.signal(s, _exit_on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _run(args)
    finally:
        reap_all()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _run(args: argparse.Namespace) -> int:
    from ask_latency import load_questions

    from assistant.config import Settings
    from assistant.service import Assistant

    data_dir, tmp = sample_data_dir(args.data_dir)
    try:
        asst = Assistant(Settings(data_dir=data_dir))
        try:
            return _measure(args, asst, load_questions(args.questions))
        finally:
            asst.close()
    finally:
        if tmp is not None:
            tmp.cleanup()


def _measure(args: argparse.Namespace, asst: Any, questions: list[str]) -> int:
    llm: Any = asst.llm
    policy_type = type(llm.threads)  # assistant.llm.threads.ThreadPolicy
    auto = llm.n_threads  # what LocalLLM chose with n_threads unset
    try:
        settings, notes = parse_settings(args.threads, auto)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    for note in notes:
        log(note)
    papers = asst.library.papers()[: args.papers]
    if len(questions) < args.questions or len(papers) < args.papers:
        log(f"only {len(questions)} questions and {len(papers)} papers available")
    conditions = ["idle", "yes", "busy"] + (["yes2", "busy2"] if args.two else [])
    info = machine(auto)
    info["env"] = {k: os.environ.get(k) for k in ENV_KEYS}
    info["competitor_guard"] = "setpriv --pdeathsig KILL" if shutil.which("setpriv") else "none"
    log(
        f"{len(questions)} questions + {len(papers)} TL;DRs x {conditions} x "
        f"{[s.label for s in settings]}, {args.rounds} round(s), load {info['load_avg_start']}"
    )
    llm.load()
    asst.embedder.embed(["warm up"])
    t0 = time.perf_counter()
    set_threads(llm, auto)
    no_competitors = Competitors([], args.settle)
    run_batch(asst, "questions", questions, no_competitors, None)
    run_batch(asst, "tldrs", papers, no_competitors, None)
    log(f"warm-up pass (untimed): {time.perf_counter() - t0:.1f}s")

    items: dict[str, Sequence[Any]] = {"questions": questions, "tldrs": papers}
    cells = {(c, s.label, b): Cell() for c in conditions for s in settings for b in BATCHES}
    records: list[dict[str, Any]] = []
    for r in range(args.rounds):
        order = settings if r % 2 == 0 else settings[::-1]
        idle_wall: dict[tuple[str, str], float] = {}
        for cond in conditions:
            for s in order:
                set_threads(llm, s.threads)
                # a fixed count pins LocalLLM's policy; "policy" lets it re-decide per call
                llm.threads = policy_type(s.threads if s.fixed else None)
                for kind in BATCHES:
                    chunk = items[kind][r :: args.rounds]
                    cap = None
                    if cond != "idle":
                        cap = max(CAP_FLOOR_S, args.max_slowdown * idle_wall[(s.label, kind)])
                    with Competitors(CONDITIONS[cond], args.settle) as comp:
                        rec = run_batch(asst, kind, chunk, comp, cap)
                    if cond == "idle":
                        idle_wall[(s.label, kind)] = rec["wall_s"]
                    tags = {"round": r + 1, "condition": cond, "setting": s.label}
                    rec = {**tags, "threads": s.threads, "batch": kind, **rec}
                    records.append(rec)
                    cell = cells[(cond, s.label, kind)]
                    cell.wall += rec["wall_s"]
                    cell.capped |= rec["capped"]
                    cell.rounds.append(rec)
                    log(
                        f"round {r + 1} {cond:5s} threads {s.label:6s} {kind:9s} "
                        f"{rec['wall_s']:7.2f}s{' (capped)' if rec['capped'] else ''}; "
                        f"competitors {rec['competitor_cores']} cores, "
                        f"other load {rec['other_load_cores']} cores"
                    )

    return _report(args, info, settings, conditions, cells, records, auto)


def _report(
    args: argparse.Namespace,
    info: dict[str, Any],
    settings: list[Setting],
    conditions: list[str],
    cells: dict[tuple[str, str, str], Cell],
    records: list[dict[str, Any]],
    auto: int,
) -> int:
    auto_label = next((s.label for s in settings if s.threads == auto and s.fixed), None)

    def ratio(num: float | None, den: float) -> float | None:
        return round(num / den, 3) if num is not None and den else None

    summary: dict[str, Any] = {}
    for cond in conditions:
        summary[cond] = {}
        for kind in BATCHES:
            fixed = [s for s in settings if s.fixed]
            best = min(fixed, key=lambda s: cells[(cond, s.label, kind)].wall, default=None)
            best_wall = cells[(cond, best.label, kind)].wall if best else None
            for s in settings:
                cell = cells[(cond, s.label, kind)]
                idle = cells[("idle", s.label, kind)].wall
                idle_auto = cells[("idle", auto_label, kind)].wall if auto_label else None
                summary[cond].setdefault(s.label, {})[kind] = {
                    "wall_s": round(cell.wall, 3),
                    "capped": cell.capped,  # wall is a lower bound, ratios upper bounds
                    "vs_idle": ratio(idle, cell.wall),
                    "vs_best_fixed": ratio(best_wall, cell.wall),
                    "best_fixed": best.label if best else None,
                    "vs_idle_auto": ratio(idle_auto, cell.wall),
                    "completion_tokens": sum(x["model"]["completion_tokens"] for x in cell.rounds),
                    "model_calls": sum(x["model"]["calls"] for x in cell.rounds),
                    "other_load_cores_max": max(x["other_load_cores"] for x in cell.rounds),
                    "competitor_cores_mean": round(
                        sum(x["competitor_cores"] for x in cell.rounds) / len(cell.rounds), 2
                    ),
                }

    n_q = sum(x["items"] for x in cells[("idle", settings[0].label, "questions")].rounds)
    n_t = sum(x["items"] for x in cells[("idle", settings[0].label, "tldrs")].rounds)
    result: dict[str, Any] = {
        "benchmark": "contention",
        "machine": info,
        "config": {
            "questions": n_q,
            "papers": n_t,
            "rounds": args.rounds,
            "max_slowdown": args.max_slowdown,
            "settle_s": args.settle,
            "settings": [
                {"label": s.label, "threads": s.threads, "fixed": s.fixed} for s in settings
            ],
            "conditions": {c: [" ".join(a) for a in CONDITIONS[c]] for c in conditions},
        },
        "summary": summary,
        "batches": records,
    }

    def secs(v: dict[str, Any]) -> str:
        return f"{'>' if v['capped'] else ''}{v['wall_s']:.1f}s"

    def x(v: dict[str, Any], key: str) -> str:
        r = v[key]
        return "-" if r is None else f"{'<' if v['capped'] else ''}{r:.2f}"

    head = f"{'wall':>8s} {'/idle':>6s} {'/best':>6s} {'/auto0':>6s} {'tok':>5s}"
    lines = [
        f"{n_q} questions and {n_t} TL;DRs per condition and thread setting, {args.rounds} "
        f"interleaved round(s); competitors stopped past {args.max_slowdown:g}x idle (capped: "
        "'>' seconds, '<' ratios)",
        "ratios are throughput: /idle vs idle with the same threads, /best vs the best fixed "
        f"thread count in that condition, /auto0 vs idle with today's choice ({auto_label})",
        f"{'condition':9s} {'threads':7s}  questions {head}  tldrs {head}",
    ]
    for cond in conditions:
        for s in settings:
            q, t = summary[cond][s.label]["questions"], summary[cond][s.label]["tldrs"]
            lines.append(
                f"{cond:9s} {s.label:7s}  {'':9s} {secs(q):>8s} {x(q, 'vs_idle'):>6s} "
                f"{x(q, 'vs_best_fixed'):>6s} {x(q, 'vs_idle_auto'):>6s} "
                f"{q['completion_tokens']:>5d}  {'':5s} {secs(t):>8s} {x(t, 'vs_idle'):>6s} "
                f"{x(t, 'vs_best_fixed'):>6s} {x(t, 'vs_idle_auto'):>6s} "
                f"{t['completion_tokens']:>5d}"
            )
    for cond in conditions[1:] if auto_label else []:
        parts = []
        for kind in BATCHES:
            best = summary[cond][settings[0].label][kind]["best_fixed"]
            v = summary[cond][best][kind]
            parts.append(f"{kind} best at {best} threads, {x(v, 'vs_idle_auto')}x")
        lines.append(f"{cond}: " + "; ".join(parts) + f" of idle at {auto_label} (goal >= 0.6x)")
    for kind in BATCHES:
        # greedy outputs of a 135M model can flip on tiny numeric differences (thread count)
        by_setting = {
            s.label: {summary[c][s.label][kind]["completion_tokens"] for c in conditions}
            for s in settings
        }
        if any(len(v) > 1 for v in by_setting.values()):
            lines.append(
                f"warning: {kind} generated different token counts under different conditions "
                f"with the same threads {by_setting}: the work differed, not only the speed"
            )
        elif len({min(v) for v in by_setting.values()}) > 1:
            per_setting = {k: min(v) for k, v in by_setting.items()}
            lines.append(
                f"note: {kind} generated different token counts per thread setting "
                f"{per_setting}: /best and /auto0 compare different work, /idle does not"
            )
    idle_load = max(
        (r["other_load_cores"] for r in records if r["condition"] == "idle"), default=0.0
    )
    if idle_load > 0.25:
        lines.append(
            f"warning: up to {idle_load} cores of other load during idle batches: "
            "the machine was not otherwise idle"
        )
    early = [r for r in records if r["competitors_exited_early"]]
    if early:
        lines.append(f"warning: competitors exited early in {len(early)} batch(es)")
    emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
