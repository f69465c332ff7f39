"""Answer fast paths side by side, with the qa eval's own metrics: speed never bought silently.

    python benchmarks/answer_context.py [--questions 20] [--unanswerable 5]
        [--variants current,no_guard,s3,k5] [--threads N] [--data-dir DIR] [--json]

One ``Assistant`` (real model and embedder, the sample corpus ingested) answers fixture questions
under each variant, interleaved question by question so load drift hits all variants alike:

* ``current``   the shipped settings (2 sentences per source, top_k sources, loop guard on);
* ``no_guard``  the repetition guard off (what generation cost before it);
* ``s3``        3 sentences per source (the earlier default);
* ``k5``        up to 5 sources in the prompt (the earlier top_k);
* ``s3k5``      both: the earlier defaults;
* ``t96``       answers capped at 96 tokens instead of answer_max_tokens.

Every variant's prompt differs from the previous one's except ``current`` and ``no_guard``:
the second of those two finds its whole prompt in the KV cache, so compare their prefill with
care.

Per variant: the eval's key-fact recall, unsupported-sentence rate (the qa suite's judge),
gold-citation rate, false abstentions, abstention on unanswerable questions; and prompt tokens,
prefill (time to first token), decode tokens and total seconds.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _machine import emit, log, machine, summary
from _store import sample_data_dir

VARIANTS = ("current", "no_guard", "s3", "k5", "s3k5", "t96")


@contextmanager
def variant(asst: Any, name: str) -> Iterator[None]:
    from assistant import context

    compress = context.compress
    top_k = asst.retriever.top_k
    settings = asst.settings
    try:
        if name == "no_guard":
            asst.llm.stop_on_repetition = False
        if "s3" in name:
            context.compress = functools.partial(compress, n=3)
        if "k5" in name:
            asst.retriever.top_k = max(5, top_k)
        if name == "t96":
            asst.settings = settings.model_copy(update={"answer_max_tokens": 96})
        yield
    finally:
        asst.llm.stop_on_repetition = True
        context.compress = compress
        asst.retriever.top_k = top_k
        asst.settings = settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=20, help="answerable questions (first N)")
    ap.add_argument("--unanswerable", type=int, default=5)
    ap.add_argument("--variants", default="current,no_guard,s3,k5")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")

    from assistant.config import Settings
    from assistant.service import Assistant
    from evals import metrics as M
    from evals.cases import load_cases
    from evals.suites import _QA, _answerable, _unanswerable

    data_dir, tmp = sample_data_dir(args.data_dir)
    settings = Settings(data_dir=data_dir, n_threads=args.threads)
    asst = Assistant(settings)
    papers = {p.paper_id: p for p in asst.library.papers()}
    cases = load_cases(list(papers.values()))
    answerable = cases.answerable[: args.questions]
    unanswerable = cases.unanswerable[: args.unanswerable]
    info = machine(asst.llm.n_threads)
    log(f"{len(answerable)}+{len(unanswerable)} questions x {names}, load {info['load_avg_start']}")
    asst.llm.load()
    asst.ask("What does the Cappy paper propose?")

    qas = {n: _QA(asst, papers) for n in names}
    results: dict[str, list[Any]] = {n: [] for n in names}
    perf: dict[str, dict[str, list[float]]] = {
        n: {"prompt_tokens": [], "prefill_s": [], "completion_tokens": [], "total_s": []}
        for n in names
    }
    repetition: dict[str, int] = {n: 0 for n in names}
    jobs: list[tuple[Any, Callable[..., Any]]] = [(c, _answerable) for c in answerable]
    jobs += [(u, _unanswerable) for u in unanswerable]
    for i, (case, judge) in enumerate(jobs):
        order = names if i % 2 == 0 else names[::-1]
        for n in order:
            with variant(asst, n):
                asst.llm.stats.reset()
                t0 = time.perf_counter()
                ans = asst.ask(case.question)
                secs = time.perf_counter() - t0
                st = asst.llm.stats
            results[n].append(judge(qas[n], case, ans, secs))
            p = perf[n]
            p["total_s"].append(secs)
            if st.calls:
                p["prompt_tokens"].append(float(st.prompt_tokens))
                p["prefill_s"].append(st.prefill_s)
                p["completion_tokens"].append(float(st.completion_tokens))
            repetition[n] += st.repetition_stops
        log(f"  {i + 1}/{len(jobs)} questions")

    out: dict[str, Any] = {}
    for n in names:
        rs = results[n]
        single = [r for r in rs if r.kind in ("single", "multi")]
        unans = [r for r in rs if r.kind in ("off_topic", "near_miss")]
        answered = [r for r in single if not r.abstained]
        out[n] = {
            "key_fact_recall": M.mean(float(r.details["key_fact_recall"]) for r in single),
            "unsupported_sentence_rate": M.unsupported_sentence_rate(qas[n].sentences),
            "citation_gold_hit": M.rate(qas[n].gold_hit),
            "false_abstention_rate": M.rate(bool(r.abstained) for r in single),
            "abstention_accuracy": M.rate(bool(r.abstained) for r in unans),
            "model_sentence_share": M.rate(qas[n].model_shown),
            "answered": len(answered),
            "repetition_stops": repetition[n],
        } | {k: summary(v, 3) for k, v in perf[n].items()}
    result: dict[str, Any] = {
        "benchmark": "answer_context",
        "machine": info,
        "questions": {"answerable": len(answerable), "unanswerable": len(unanswerable)},
        "variants": out,
    }
    lines = [
        f"{len(answerable)} answerable + {len(unanswerable)} unanswerable questions, "
        "variants interleaved",
        f"{'variant':9s} {'kf_recall':>9s} {'unsupp':>7s} {'gold':>6s} {'f_abst':>7s} "
        f"{'abst_ok':>7s} {'prompt_tok':>10s} {'prefill_p50':>11s} {'out_tok':>8s} "
        f"{'total_p50':>9s}",
    ]

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    for n, v in out.items():
        lines.append(
            f"{n:9s} {f(v['key_fact_recall']):>9s} {f(v['unsupported_sentence_rate']):>7s} "
            f"{f(v['citation_gold_hit']):>6s} {f(v['false_abstention_rate']):>7s} "
            f"{f(v['abstention_accuracy']):>7s} {v['prompt_tokens']['mean']:>10.0f} "
            f"{v['prefill_s']['p50']:>10.2f}s {v['completion_tokens']['mean']:>8.1f} "
            f"{v['total_s']['p50']:>8.2f}s"
        )
    emit(result, args.json, lines)
    asst.close()
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
