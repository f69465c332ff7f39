"""`assistant eval`: run the grounding evals through the real pipeline and gate on thresholds."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cli.common import command, emit_json, model_flags
from assistant.config import Settings
from assistant.protocols import ChatModel

if TYPE_CHECKING:
    from evals.gate import EvalResult, Threshold

EPILOG = """\
The eval parses the bundled sample corpus, ingests it with the real embedder into a fresh
temporary data dir (your library is never read or written; --data-dir only chooses where that
temporary dir is created), answers every fixture question and writes a TL;DR for every paper
with the real model, and checks the grounding judge on labelled sentences. Each metric is
compared with evals/thresholds.toml. Settings (top_k, thresholds, n_threads ...) come from
--config / ASSISTANT_* as usual, so you evaluate your own configuration.

exit codes: 0 every gated metric passes; 1 a gated metric fails (or an error).

examples:
  assistant eval                                   # all suites, metric table on stdout
  assistant eval --suite judge                     # the judge alone (seconds, no LLM)
  assistant eval --suite all --report out/eval.md  # + out/eval.json and out/eval.png
  assistant eval --suite qa --model ~/models/qwen2.5-1.5b-instruct-q4_k_m.gguf
  assistant eval --suite judge --judge-model ~/models/bigger.gguf   # extra LLM-judge metric
"""


def register(sub: Any) -> None:
    p = command(
        sub,
        "eval",
        cmd_eval,
        help="run the grounding evals (fixtures through the real pipeline) and gate on them",
        description="Measure retrieval, citations, key facts, unsupported sentences, abstention, "
        "TL;DR faithfulness and the grounding judge itself against evals/thresholds.toml.",
        epilog=EPILOG,
    )
    p.add_argument(
        "--suite",
        choices=["qa", "tldr", "judge", "perturb", "audit", "user", "all"],
        default="all",
        help="which suite to run (default: all)",
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="PATH.md",
        help="write a Markdown report there, with PATH.json and PATH.png beside it (and "
        "PATH.cases.jsonl, appended case by case while the eval runs)",
    )
    model_flags(p)
    p.add_argument(
        "--judge-model",
        type=Path,
        metavar="PATH",
        help="optional GGUF used as an extra yes/no LLM judge (reported, never gated)",
    )
    p.add_argument(
        "--thresholds",
        type=Path,
        metavar="PATH.toml",
        help="threshold file (default: evals/thresholds.toml)",
    )
    p.add_argument(
        "--no-embed-cache",
        action="store_true",
        help="re-embed every text as the app does (slower; default memoises vectors per text)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or status lines")


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.errors import UsageError
    from evals.gate import THRESHOLDS_FILE, load_thresholds
    from evals.report import summary, to_json, write_reports

    judge = None
    if args.judge_model is not None:
        if not args.judge_model.is_file():
            raise UsageError(f"judge model not found: {args.judge_model}")
        from evals.llm_judge import load_judge

        judge = load_judge(settings, args.judge_model)
    path = args.thresholds or THRESHOLDS_FILE
    if not path.is_file():
        raise UsageError(f"threshold file not found: {path}")
    thresholds = load_thresholds(path)  # a bad file fails now, not after the whole eval
    case_log = None
    if args.report:
        case_log = args.report.with_suffix(".cases.jsonl")
        case_log.parent.mkdir(parents=True, exist_ok=True)
        case_log.unlink(missing_ok=True)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:  # SIGTERM unwinds like Ctrl-C, so the temporary store is removed
        result = _run(args, settings, judge, thresholds, case_log)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    written = write_reports(result, args.report) if args.report else {}
    if args.json:
        emit_json(to_json(result) | {"written": {k: str(v) for k, v in written.items()}})
    else:
        print(summary(result))
        for kind, path in written.items():
            print(f"{kind}: {path}")
    if not result.passed and not args.quiet:
        failed = ", ".join(f"{m.suite}.{m.name}" for m in result.failed_metrics)
        print(f"eval FAILED: {failed}", file=sys.stderr)
    return 0 if result.passed else 1


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the temp-dir cleanup; the CLI exits 130


def _run(
    args: argparse.Namespace,
    settings: Settings,
    judge: ChatModel | None,
    thresholds: dict[str, dict[str, Threshold]],
    case_log: Path | None,
) -> EvalResult:
    from evals.runner import run_suites

    return run_suites(
        [args.suite],
        settings,
        judge_llm=judge,
        thresholds=thresholds,
        temp_parent=args.data_dir,
        progress=not args.quiet,
        embed_cache=not args.no_embed_cache,
        case_log=case_log,
        log=None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)),
    )
