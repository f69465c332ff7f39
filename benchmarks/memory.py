"""Peak memory of a process serving the UI's work: the real model answering 50 questions.

    python benchmarks/memory.py [--questions 50] [--threads N] [--data-dir DIR] [--json]

A fresh child process imports the UI (gradio) and builds its app without launching a server,
then answers the questions through the UI's own chat handler (``ui.actions.chat_turn``, so
follow-up rewriting and history are included) with the real model and embedder over the
sample corpus. It reports its resident set size after start-up, after loading, every ten
questions, and its peak (``ru_maxrss``). ``--mode ask`` uses ``Assistant.ask`` without the UI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _machine import ROOT, current_rss_mb, emit, log, machine, peak_rss_mb
from _store import sample_data_dir

QUESTIONS = ROOT / "evals" / "fixtures" / "qa_answerable.jsonl"


def child(args: argparse.Namespace) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.service import Assistant

    rss: dict[str, float] = {"start": round(current_rss_mb(), 1)}
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    questions = [str(r["question"]) for r in rows]
    questions = (questions * (args.questions // len(questions) + 1))[: args.questions]
    settings = Settings(data_dir=args.data_dir, n_threads=args.threads)
    asst = Assistant(settings)
    mode = args.mode
    turn: Any = None
    state: Any = None
    if mode == "ui":
        try:
            from ui import actions
            from ui.app import create_app

            create_app(asst)
            turn, state = actions.chat_turn, actions.ChatState()
        except Exception as exc:  # the UI is optional here; say so instead of failing
            log(f"UI unavailable ({exc}); falling back to Assistant.ask")
            mode = "ask"
    rss["imports"] = round(current_rss_mb(), 1)
    asst.llm.load()
    asst.embedder.embed(["warm up"])
    rss["loaded"] = round(current_rss_mb(), 1)
    t0 = time.perf_counter()
    for i, q in enumerate(questions, 1):
        if turn is not None:
            for _ in turn(asst, q, state):
                pass
        else:
            asst.ask(q)
        if i % 10 == 0:
            rss[f"after_{i}"] = round(current_rss_mb(), 1)
            log(f"  {i} questions, rss {rss[f'after_{i}']} MiB, {time.perf_counter() - t0:.0f}s")
    asst.close()
    return {
        "mode": mode,
        "questions": len(questions),
        "seconds": round(time.perf_counter() - t0, 1),
        "rss_mb": rss,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "threads": asst.llm.n_threads,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--mode", choices=["ui", "ask"], default="ui")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    data_dir, tmp = sample_data_dir(args.data_dir)
    info = machine(args.threads)
    cmd = [sys.executable, __file__, "--child", "--data-dir", str(data_dir)]
    cmd += ["--questions", str(args.questions), "--mode", args.mode]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    log(f"child process: {args.questions} questions ({args.mode}), load {info['load_avg_start']}")
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    info["llm_threads"] = res.pop("threads")
    result: dict[str, Any] = {"benchmark": "memory", "machine": info} | res
    lines = [
        f"{res['questions']} questions through {res['mode']} in {res['seconds']}s",
        f"peak RSS {res['peak_rss_mb']:.0f} MiB (goal <= 1536 MiB); RSS by stage: "
        + ", ".join(f"{k} {v:.0f}" for k, v in res["rss_mb"].items()),
    ]
    emit(result, args.json, lines)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
