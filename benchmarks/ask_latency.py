"""Question latency: time to first token and total, warm process, plus a cold CLI start.

    python benchmarks/ask_latency.py [--questions 24] [--threads N] [--data-dir DIR] [--json]
    python benchmarks/ask_latency.py --cold-only [--cold-runs 5] [--profile] [--question Q]

Warm: one ``Assistant`` (real model and embedder, the sample corpus ingested) answers the first
``--questions`` questions of evals/fixtures/qa_answerable.jsonl after one untimed warm-up
question. Per question: time to the model's first token (TTFT), time to the first verified
sentence shown to the user, and total; p50/p95 of each, and the breakdown from
``Answer.timings`` (embed, retrieve, prompt build, prefill, decode, verify). The baseline is a
second ``Assistant`` on the GGUF as shipped with llama.cpp's default attention
(``model_runtime = "original"``, ``flash_attn = false``), asked the same questions interleaved
with ours (``--no-baseline`` skips it).

Cold: ``assistant ask --draft QUESTION`` in a new process (``--cold-runs`` times): time to the
first model token (the draft stream on stderr), to the first verified sentence (stdout), and to
exit. ``--cold-only`` skips the warm runs; ``--question`` picks the cold question (default: the
first fixture question). ``--profile`` adds one profiled cold run (``_cold_profile.py``): the
timeline of its phases per thread and cProfile's top functions over every thread (the
profiler slows Python code, so those times run above the plain runs').

``--compare-threads 1,2`` also reruns the warm questions with each thread count, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _machine import ROOT, emit, log, machine, summary
from _store import sample_data_dir

QUESTIONS = ROOT / "evals" / "fixtures" / "qa_answerable.jsonl"
PHASES = ("embed", "retrieve", "prompt_build", "prefill", "generate", "verify", "total")


def load_questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [str(r["question"]) for r in rows[:n]]


class _Warm:
    """Per-question measurements of one assistant."""

    def __init__(self, asst: Any) -> None:
        self.asst = asst
        self.ttft: list[float] = []
        self.ttft_cpu: list[float] = []
        self.first_sentence: list[float] = []
        self.total: list[float] = []
        self.total_cpu: list[float] = []
        self.phases: dict[str, list[float]] = {k: [] for k in PHASES}
        self.abstained = 0
        asst.llm.stats.reset()

    def ask(self, q: str) -> None:
        marks: dict[str, float] = {}
        t0, c0 = time.perf_counter(), time.process_time()

        def on_token(_: str) -> None:
            if "token" not in marks:
                marks["token"] = time.perf_counter()
                marks["token_cpu"] = time.process_time()

        def on_sentence(_: str) -> None:
            marks.setdefault("sentence", time.perf_counter())

        ans = self.asst.ask(q, on_token=on_token, on_sentence=on_sentence)
        t_end = time.perf_counter()
        self.total.append(t_end - t0)
        self.total_cpu.append(time.process_time() - c0)
        if "token" in marks:
            self.ttft.append(marks["token"] - t0)
            self.ttft_cpu.append(marks["token_cpu"] - c0)
        self.first_sentence.append(marks.get("sentence", t_end) - t0)
        self.abstained += ans.abstained
        for k in PHASES:
            if k in ans.timings:
                self.phases[k].append(float(ans.timings[k]))

    def result(self) -> dict[str, Any]:
        st = self.asst.llm.stats
        return {
            "questions": len(self.total),
            "abstained": self.abstained,
            "ttft_s": summary(self.ttft),
            "ttft_cpu_s": summary(self.ttft_cpu),
            "first_sentence_s": summary(self.first_sentence),
            "total_s": summary(self.total),
            "total_cpu_s": summary(self.total_cpu),
            "breakdown_p50_s": {k: summary(v)["p50"] for k, v in self.phases.items() if v},
            "breakdown_mean_s": {k: summary(v)["mean"] for k, v in self.phases.items() if v},
            "model": {
                "calls": st.calls,
                "prompt_tokens_mean": round(st.prompt_tokens / max(1, st.calls), 1),
                "kv_reuse_share": round(st.reused_tokens / max(1, st.prompt_tokens), 3),
                "completion_tokens_mean": round(st.completion_tokens / max(1, st.calls), 1),
                "repetition_stops": st.repetition_stops,
            },
        }


def warm_runs(assts: dict[str, Any], questions: list[str]) -> dict[str, dict[str, Any]]:
    """Every question asked of each assistant in turn (order alternating per question), so
    load drift on a shared machine hits all of them alike."""
    runs = {name: _Warm(a) for name, a in assts.items()}
    order = list(runs.values())
    for i, q in enumerate(questions):
        for run in order if i % 2 == 0 else order[::-1]:
            run.ask(q)
    return {name: run.result() for name, run in runs.items()}


def warm_run(asst: Any, questions: list[str]) -> dict[str, Any]:
    return warm_runs({"x": asst}, questions)["x"]


def cold_start(data_dir: Path, question: str, threads: int | None) -> dict[str, Any]:
    env = dict(os.environ, ASSISTANT_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    if threads is not None:
        env["ASSISTANT_N_THREADS"] = str(threads)
    exe = Path(sys.executable).parent / "assistant"
    cmd = [str(exe), "ask", "--draft", question]
    busy0, c0 = _busy_cpu_s(), _children_cpu_s()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    first: dict[str, float] = {}
    open_streams = 2
    while open_streams:
        for key, _ in sel.select():
            data = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
            elif data.strip():
                first.setdefault(str(key.data), time.perf_counter() - t0)
    proc.wait()
    end = time.perf_counter() - t0
    cpu = _children_cpu_s() - c0
    busy1 = _busy_cpu_s()
    return {
        "first_token_s": round(first.get("stderr", end), 3),
        "first_output_s": round(first.get("stdout", end), 3),
        "exit_s": round(end, 3),
        "returncode": proc.returncode,
        # no draft token: the question was answered (abstained) without the model
        "model_called": "stderr" in first,
        "cpu_s": round(cpu, 2),
        # CPU seconds other processes used meanwhile: well above 0, the run was not alone
        "others_cpu_s": (
            round(max(0.0, busy1 - busy0 - cpu), 2) if busy0 is not None and busy1 else None
        ),
    }


def _children_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _busy_cpu_s() -> float | None:
    """Busy CPU seconds of the whole machine so far (/proc/stat; None where missing)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def cold_profile(data_dir: Path, question: str, threads: int | None, top: int) -> dict[str, Any]:
    """One cold ``assistant ask --draft`` under ``_cold_profile.py``: timeline and top items."""
    import tempfile

    env = dict(os.environ, ASSISTANT_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    if threads is not None:
        env["ASSISTANT_N_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory(prefix="cold-profile-") as tmp:
        out = Path(tmp) / "profile.json"
        driver = Path(__file__).with_name("_cold_profile.py")
        cmd = [sys.executable, str(driver), str(out), "ask", "--draft", question]
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report: dict[str, Any] = json.loads(out.read_text("utf-8"))
    # import machinery and thread plumbing only wrap the work that is listed under them
    plumbing = ("<frozen ", "{built-in method builtins.exec}", "threading.py", "_cold_profile.py")
    for key in ("by_own_time", "by_cumulative_time"):
        rows = [r for r in report[key] if not any(p in r["function"] for p in plumbing)]
        report[key] = rows[:top]
    return report


def profile_lines(report: dict[str, Any]) -> list[str]:
    def short(function: str) -> str:
        return function.replace(str(ROOT) + "/", "").split("site-packages/")[-1]

    lines = ["cold profile (one run under cProfile; times inflated by the profiler):"]
    lines += [f"  {e['t_s']:7.3f}s  {e['thread']:<14} {e['event']}" for e in report["timeline"]]
    lines.append("  top by own time (all threads):")
    lines += [
        f"    {r['own_s']:7.3f}s {r['calls']:>8}x  {short(r['function'])}"
        for r in report["by_own_time"]
    ]
    lines.append("  top by cumulative time (all threads):")
    lines += [
        f"    {r['cum_s']:7.3f}s {r['calls']:>8}x  {short(r['function'])}"
        for r in report["by_cumulative_time"]
    ]
    return lines


def cold_only(args: argparse.Namespace) -> int:
    data_dir, tmp = sample_data_dir(args.data_dir)
    question = args.question or load_questions(1)[0]
    result: dict[str, Any] = {"benchmark": "ask_latency", "data_dir": str(data_dir)}
    result["machine"] = machine(args.threads)
    result["question"] = question
    cold = [cold_start(data_dir, question, args.threads) for _ in range(args.cold_runs)]
    result["cold"] = {
        k: summary([c[k] for c in cold]) for k in ("first_token_s", "first_output_s", "exit_s")
    }
    result["cold_runs"] = cold
    lines = [f"cold `assistant ask --draft {question!r}` (new process, {len(cold)} runs):"]
    lines += [
        f"  run {n}: first token {c['first_token_s']:.3f}s, first output "
        f"{c['first_output_s']:.3f}s, exit {c['exit_s']:.3f}s (CPU {c['cpu_s']}s; other "
        f"processes {c['others_cpu_s']}s){'' if c['model_called'] else ' NO MODEL CALL'}"
        for n, c in enumerate(cold, 1)
    ]
    lines.append(
        f"  p50: first token {result['cold']['first_token_s']['p50']:.3f}s, first output "
        f"{result['cold']['first_output_s']['p50']:.3f}s, exit "
        f"{result['cold']['exit_s']['p50']:.3f}s"
    )
    if args.profile:
        result["profile"] = cold_profile(data_dir, question, args.threads, args.top)
        lines += profile_lines(result["profile"])
    emit(result, args.json, lines)
    if tmp is not None:
        tmp.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=24)
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: ours)")
    ap.add_argument("--data-dir", type=Path, default=None, help="an ingested data dir to reuse")
    ap.add_argument("--cold-runs", type=int, default=3)
    ap.add_argument("--compare-threads", default="", help="e.g. 1,2: warm run per thread count")
    ap.add_argument(
        "--no-baseline", action="store_true", help="skip the as-shipped GGUF baseline run"
    )
    ap.add_argument("--cold-only", action="store_true", help="only the cold-start runs")
    ap.add_argument("--question", help="the cold-start question (default: the first fixture's)")
    ap.add_argument("--profile", action="store_true", help="with --cold-only: one profiled run")
    ap.add_argument("--top", type=int, default=15, help="functions listed by --profile")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.cold_only:
        return cold_only(args)

    from assistant.config import Settings
    from assistant.service import Assistant

    data_dir, tmp = sample_data_dir(args.data_dir)
    questions = load_questions(args.questions)
    settings = Settings(data_dir=data_dir, n_threads=args.threads)
    result: dict[str, Any] = {"benchmark": "ask_latency", "data_dir": str(data_dir)}
    assts = {"ours": Assistant(settings)}
    if not args.no_baseline:
        # the GGUF as shipped, llama.cpp's default attention: what the fast paths replace
        base = settings.model_copy(update={"model_runtime": "original", "flash_attn": False})
        assts["baseline"] = Assistant(base)
    result["machine"] = machine(assts["ours"].llm.n_threads)
    log(f"warm-up ({assts['ours'].llm.n_threads} threads, {result['machine']['load_avg_start']})")
    for asst in assts.values():
        asst.llm.load()
        asst.ask("What does the Cappy paper propose?")
    warm = warm_runs(assts, questions)
    for asst in assts.values():
        asst.close()
    result["warm"] = warm["ours"]
    if "baseline" in warm:
        result["baseline_warm"] = warm["baseline"]
        b, o = warm["baseline"]["ttft_s"]["p50"], warm["ours"]["ttft_s"]["p50"]
        result["ttft_p50_ratio_baseline_vs_ours"] = round(b / o, 3) if o else None
    by_threads: dict[str, Any] = {}
    for t in [int(x) for x in args.compare_threads.split(",") if x.strip()]:
        with Assistant(Settings(data_dir=data_dir, n_threads=t)) as asst:
            asst.llm.load()
            asst.ask("What does the Cappy paper propose?")
            by_threads[str(t)] = warm_run(asst, questions)
            log(f"threads {t}: ttft p50 {by_threads[str(t)]['ttft_s']['p50']}s")
    if by_threads:
        result["by_threads"] = by_threads
    cold_q = args.question or questions[0]
    cold = [cold_start(data_dir, cold_q, args.threads) for _ in range(args.cold_runs)]
    result["cold"] = {
        k: summary([c[k] for c in cold]) for k in ("first_token_s", "first_output_s", "exit_s")
    }
    result["cold_runs"] = cold
    w = result["warm"]
    lines = [
        f"warm, {w['questions']} questions ({w['abstained']} abstained):",
        f"  TTFT          p50 {w['ttft_s']['p50']:.3f}s  p95 {w['ttft_s']['p95']:.3f}s  "
        "(goal p50 <= 1.0s)",
        f"  first shown   p50 {w['first_sentence_s']['p50']:.3f}s  "
        f"p95 {w['first_sentence_s']['p95']:.3f}s",
        f"  total         p50 {w['total_s']['p50']:.3f}s  p95 {w['total_s']['p95']:.3f}s",
        f"  process CPU   to first token p50 {w['ttft_cpu_s']['p50']:.3f}s, "
        f"total p50 {w['total_cpu_s']['p50']:.3f}s",
        "  breakdown p50 " + ", ".join(f"{k} {v:.3f}s" for k, v in w["breakdown_p50_s"].items()),
        f"  model: {w['model']}",
        f"cold `assistant ask` (new process, {len(cold)} runs): first token p50 "
        f"{result['cold']['first_token_s']['p50']:.2f}s, first output p50 "
        f"{result['cold']['first_output_s']['p50']:.2f}s, exit p50 "
        f"{result['cold']['exit_s']['p50']:.2f}s (goal first output <= 4s)",
    ]
    if "baseline_warm" in result:
        bw = result["baseline_warm"]
        lines.append(
            f"baseline (GGUF as shipped, no flash attention), same questions interleaved: "
            f"TTFT p50 {bw['ttft_s']['p50']:.3f}s p95 {bw['ttft_s']['p95']:.3f}s, total p50 "
            f"{bw['total_s']['p50']:.3f}s; ratio baseline/ours TTFT p50 "
            f"{result['ttft_p50_ratio_baseline_vs_ours']}x"
        )
    for n_threads, r in by_threads.items():
        lines.append(
            f"threads {n_threads}: TTFT p50 {r['ttft_s']['p50']:.3f}s "
            f"p95 {r['ttft_s']['p95']:.3f}s, "
            f"total p50 {r['total_s']['p50']:.3f}s"
        )
    emit(result, args.json, lines)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
