"""Run the eval suites through the real pipeline and gate the results.

``run_suites(["all"], settings)`` parses the sample corpus, ingests it with the real embedder
into a *fresh temporary* data dir (a real Chroma store; the user's library is never touched),
then runs the suites (see :mod:`evals.suites`) with the real model and applies the thresholds.
Tests inject a FakeLLM / FakeEmbedder (``llm=``, ``embedder=``) or a broken answerer
(``answer_fn=``) to stay fast.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from assistant.config import Settings
from assistant.errors import EvalConfigError
from assistant.files import cpu_threads
from assistant.protocols import ChatModel, Embedder
from assistant.service import Assistant
from assistant.types import Paper
from evals import metrics as M
from evals import suites as S
from evals.cases import FIXTURES_DIR, SAMPLE_CORPUS, Cases, load_cases, load_corpus
from evals.gate import (
    THRESHOLDS_FILE,
    EvalResult,
    SuiteResult,
    Threshold,
    apply_gate,
    load_thresholds,
)

SUITES = ("qa", "tldr", "judge", "perturb", "audit", "user")
Log = Callable[[str], None]


def expand(suites: Sequence[str]) -> list[str]:
    """``["all"]`` -> every suite; otherwise the named ones, in canonical order."""
    wanted = set(SUITES if "all" in suites else suites)
    unknown = wanted - set(SUITES)
    if unknown:
        raise EvalConfigError(f"unknown suite(s): {', '.join(sorted(unknown))}")
    return [s for s in SUITES if s in wanted]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _bar(
    total: int, desc: str, enabled: bool, case_log: Path | None
) -> Iterator[Callable[[BaseModel], None]]:
    """A tqdm bar on stderr; each finished case is appended to ``case_log`` (JSONL) at once,
    so an interrupted run still leaves what it measured."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="case", file=sys.stderr, disable=not enabled)

    def tick(record: BaseModel) -> None:
        bar.update(1)
        if case_log is not None:
            with case_log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"suite": desc} | record.model_dump(mode="json")) + "\n")

    try:
        yield tick
    finally:
        bar.close()


def run_suites(
    suites: Sequence[str],
    settings: Settings,
    *,
    llm: ChatModel | None = None,
    embedder: Embedder | None = None,
    judge_llm: ChatModel | None = None,
    answer_fn: S.AnswerFn = S.default_answer,
    corpus: Path = SAMPLE_CORPUS,
    fixtures_dir: Path = FIXTURES_DIR,
    thresholds: Path | dict[str, dict[str, Threshold]] | None = THRESHOLDS_FILE,
    temp_parent: Path | None = None,
    progress: bool = True,
    log: Log | None = _stderr,
    embed_cache: bool = True,
    case_log: Path | None = None,
) -> EvalResult:
    """Run ``suites`` ("qa", "tldr", "judge" or "all") and gate them (``thresholds=None``:
    report only). ``settings.data_dir`` is replaced by a temporary directory created under
    ``temp_parent`` (default: the system temp dir) and removed afterwards.

    ``case_log``: a JSONL file each finished case is appended to as the run goes.

    ``embed_cache``: memoise the embedder's vectors per text for the whole run. The pipeline
    re-embeds the same abstract sentences for every sentence it verifies; memoising returns
    the same vectors (up to float rounding of batch composition) and makes the eval several
    times faster, but the latency figures then understate a real cold question."""
    names = expand(suites)
    say = log or (lambda _m: None)
    t_start = time.perf_counter()
    papers = load_corpus(corpus)
    cases = load_cases(papers, fixtures_dir)
    by_id = {p.paper_id: p for p in papers}
    results: list[SuiteResult] = []
    meta: dict[str, object] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "suites": names,
        "corpus": str(corpus),
        "papers": len(papers),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "settings_fingerprint": settings.fingerprint(),
        "support_threshold": settings.support_threshold,
        "top_k": settings.top_k,
    }
    if temp_parent is not None:
        temp_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="assistant-eval-", dir=temp_parent) as tmp:
        # llama.cpp's output depends on its thread count, and the adaptive policy picks fewer
        # threads when the machine is busy: a pinned count keeps the metrics load-independent.
        threads = settings.n_threads or cpu_threads()
        meta["n_threads"] = threads
        run_settings = settings.model_copy(update={"data_dir": Path(tmp), "n_threads": threads})
        if embed_cache:
            from assistant.service import default_embedder

            embedder = M.memoised(embedder or default_embedder(run_settings))
        meta["embed_cache"] = embed_cache
        with Assistant(run_settings, write=True, llm=llm, embedder=embedder) as assistant:
            if {"qa", "tldr", "user"} & set(names):
                t0 = time.perf_counter()
                say(f"eval: ingesting {len(papers)} sample papers into a temporary store")
                report = assistant.library.ingest(papers)
                meta["ingest_s"] = round(time.perf_counter() - t0, 2)
                meta["chunks"] = report.chunks_written
                say(f"eval: ingested in {meta['ingest_s']} s")
                model = assistant.llm
                meta["model"] = model.name
                meta["model_sha256"] = model.sha256
            meta["embedder"] = assistant.embedder.name
            for name in names:
                t0 = time.perf_counter()
                results.append(
                    _run_one(
                        name,
                        assistant,
                        by_id,
                        cases,
                        answer_fn,
                        judge_llm,
                        progress,
                        case_log,
                        fixtures_dir,
                    )
                )
                say(f"eval: {name} done in {time.perf_counter() - t0:.1f} s")
    if {"qa", "tldr", "user"} & set(names):
        from evals.suite_shown import run_shown

        results.append(run_shown(results, by_id))
    out = EvalResult(suites=results, seconds=round(time.perf_counter() - t_start, 2), meta=meta)
    if thresholds is None:
        return out
    table = load_thresholds(thresholds) if isinstance(thresholds, Path) else thresholds
    return apply_gate(out, table)


def _run_one(
    name: str,
    assistant: Assistant,
    by_id: dict[str, Paper],
    cases: Cases,
    answer_fn: S.AnswerFn,
    judge_llm: ChatModel | None,
    progress: bool,
    case_log: Path | None = None,
    fixtures_dir: Path = FIXTURES_DIR,
) -> SuiteResult:
    if name == "qa":
        total = len(cases.answerable) + len(cases.multi) + len(cases.unanswerable)
        with _bar(total, "qa", progress, case_log) as tick:
            return S.run_qa(assistant, by_id, cases, tick=tick, answer_fn=answer_fn)
    if name == "tldr":
        with _bar(len(by_id), "tldr", progress, case_log) as tick:
            return S.run_tldr(assistant, list(by_id.values()), cases, tick=tick)
    if name == "perturb":
        from evals.suite_perturb import run_perturb

        return run_perturb(by_id, M.memoised(assistant.embedder))
    if name == "audit":
        from evals.suite_audit import run_audit

        return run_audit(by_id, M.memoised(assistant.embedder))
    if name == "user":
        from evals.suite_user import chat_for, load_user_cases, run_user

        user_cases = load_user_cases(list(by_id.values()), fixtures_dir)
        with _bar(len(user_cases.cases), "user", progress, case_log) as tick:
            return run_user(assistant, user_cases, tick=tick, chat=chat_for(answer_fn))
    with _bar(len(cases.judge), "judge", progress, case_log) as tick:
        s = assistant.settings
        return S.run_judge(
            M.memoised(assistant.embedder),
            s.support_threshold,
            by_id,
            cases,
            tick=tick,
            judge_llm=judge_llm,
        )
