"""The three suites: each runs its fixtures through the pipeline and scores the outputs.

* ``qa``: every answerable, multi-paper and unanswerable question through ``Assistant.ask``;
  retrieval, citation, key-fact, judge and abstention metrics.
* ``tldr``: a TL;DR for every sample paper through ``Assistant.tldrs`` (not persisted).
* ``judge``: the grounding judge itself on the labelled sentences (no LLM involved).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from assistant.protocols import ChatModel, Embedder
from assistant.service import Assistant
from assistant.types import ABSTAIN, Answer, Paper
from evals import metrics as M
from evals.cases import Cases, QACase, UnanswerableCase
from evals.descriptions import JUDGE_HELP, QA_HELP, TLDR_HELP
from evals.gate import CaseResult, SuiteResult
from evals.suite_shown import answer_shown, tldr_shown

Tick = Callable[[BaseModel], None]  # called with each finished case (or TL;DR record)
AnswerFn = Callable[[Assistant, str], Answer]


def default_answer(assistant: Assistant, question: str) -> Answer:
    return assistant.ask(question)


def _source(paper: Paper) -> str:
    return f"{paper.title}\n\n{paper.abstract}"


def _citations(ans: Answer) -> list[dict[str, str]]:
    return [
        {"marker": str(c.marker), "title": c.title, "paper_id": c.paper_id, "quote": c.quote}
        for c in ans.citations
    ]


class _QA:
    """Accumulates per-question observations for the qa suite."""

    def __init__(self, assistant: Assistant, papers: dict[str, Paper]) -> None:
        self.assistant = assistant
        self.papers = papers
        self.k = assistant.settings.top_k
        self.embedder = M.memoised(assistant.embedder)
        self.sentences: list[M.SentenceResult] = []
        self.valid: list[bool] = []
        self.gold_hit: list[bool] = []
        self.model_shown: list[bool] = []
        self.latency: list[float] = []

    def judge(self, ans: Answer, case: CaseResult) -> list[M.SentenceResult]:
        """Re-judge a shown answer; record citation validity and sentence verdicts."""
        if ans.abstained:  # the abstention phrase is not a claim; abstention has its own metrics
            return []
        sources = {
            c.marker: _source(self.papers[c.paper_id])
            for c in ans.citations
            if c.paper_id in self.papers
        }
        s = self.assistant.settings
        # a list answer shows its header ("3 papers match:") and one quote per paper: the
        # quotes are its claims
        text = (
            " ".join(f'"{c.quote}" [{c.marker}]' for c in ans.citations)
            if ans.kind == "list"
            else ans.answer
        )
        verdicts = M.judge_answer(
            text, sources, embedder=self.embedder, threshold=s.support_threshold
        )
        self.sentences += verdicts
        model = sum(c.supported and c.origin == "model" for c in ans.sentences)
        quotes = sum(c.origin == "quote" for c in ans.sentences)
        self.model_shown += [True] * model + [False] * quotes
        valid = M.citation_validity(case.details["cited"], case.retrieved)
        self.valid.append(valid)
        if not valid:
            case.why.append("cites a paper that was not retrieved")
        for v in verdicts:
            if not v.supported:
                case.why.append(f"unsupported sentence: {v.text!r} ({v.reason or 'low support'})")
        return verdicts

    def base(self, suite_id: str, kind: str, question: str, ans: Answer, secs: float) -> CaseResult:
        self.latency.append(secs)
        return CaseResult(
            suite="qa",
            id=suite_id,
            kind=kind,
            question=question,
            answer=ans.answer,
            abstained=ans.abstained,
            citations=_citations(ans),
            retrieved=[r.paper_id for r in ans.retrieved],
            seconds=round(secs, 3),
            details={
                "cited": [c.paper_id for c in ans.citations],
                "raw_model_text": ans.raw_model_text,
                "timings": ans.timings,
                "shown_rows": answer_shown(ans),
            },
        )


def _ask(answer_fn: AnswerFn, assistant: Assistant, question: str) -> tuple[Answer, float]:
    t0 = time.perf_counter()
    ans = answer_fn(assistant, question)
    return ans, time.perf_counter() - t0


def _answerable(qa: _QA, case: QACase, ans: Answer, secs: float) -> CaseResult:
    out = qa.base(case.id, case.kind, case.question, ans, secs)
    r = out.retrieved
    out.details |= {
        "gold": case.gold_ids,
        "recall_at_1": M.recall_at_k(case.gold_ids, r, 1),
        "recall_at_k": M.recall_at_k(case.gold_ids, r, qa.k),
        "mrr": M.mrr(case.gold_ids, r),
        "key_fact_recall": 0.0,
        "key_fact_recall_answer_only": 0.0,
    }
    if out.details["recall_at_k"] < 1.0:
        out.why.append(f"gold paper(s) not in the top {qa.k} retrieved")
    if ans.abstained:
        out.why.append("abstained on an answerable question")
        out.passed = False
        return out
    texts = [ans.answer, *(c.quote for c in ans.citations)]
    missing = M.missing_facts(case.key_facts, texts)
    out.details["key_fact_recall"] = M.key_fact_recall(case.key_facts, texts)
    out.details["key_fact_recall_answer_only"] = M.key_fact_recall(case.key_facts, [ans.answer])
    if missing:
        out.why.append("missing key facts: " + "; ".join(" | ".join(f) for f in missing))
    hit = M.citation_gold_hit(out.details["cited"], case.gold_ids)
    qa.gold_hit.append(hit)
    if not hit:
        out.why.append("no gold paper cited")
    qa.judge(ans, out)
    out.passed = not out.why
    return out


def _unanswerable(qa: _QA, case: UnanswerableCase, ans: Answer, secs: float) -> CaseResult:
    out = qa.base(case.id, case.kind, case.question, ans, secs)
    if ans.abstained:
        return out
    out.why.append(f"answered instead of saying {ABSTAIN!r}")
    present = M.terms_present(case.absent_terms, ans.answer)
    out.details["absent_terms_present"] = present
    if present:
        out.why.append(f"contains terms the abstract lacks: {', '.join(present)}")
    qa.judge(ans, out)
    out.passed = False
    return out


def run_qa(
    assistant: Assistant,
    papers: dict[str, Paper],
    cases: Cases,
    *,
    tick: Tick,
    answer_fn: AnswerFn = default_answer,
) -> SuiteResult:
    t0 = time.perf_counter()
    qa = _QA(assistant, papers)
    results: list[CaseResult] = []
    for case in [*cases.answerable, *cases.multi]:
        results.append(_answerable(qa, case, *_ask(answer_fn, assistant, case.question)))
        tick(results[-1])
    for u in cases.unanswerable:
        results.append(_unanswerable(qa, u, *_ask(answer_fn, assistant, u.question)))
        tick(results[-1])
    single = [c for c in results if c.kind == "single"]
    multi = [c for c in results if c.kind == "multi"]
    unans = [c for c in results if c.kind in ("off_topic", "near_miss")]

    def avg(rows: Sequence[CaseResult], key: str) -> float | None:
        return M.mean(float(c.details[key]) for c in rows)

    values: dict[str, float | None] = {
        "recall_at_1": avg(single, "recall_at_1"),
        "recall_at_k": avg(single, "recall_at_k"),
        "mrr": avg(single, "mrr"),
        "multi_recall_at_k": avg(multi, "recall_at_k"),
        "citation_validity": M.rate(qa.valid),
        "citation_gold_hit": M.rate(qa.gold_hit),
        "key_fact_recall": avg(single, "key_fact_recall"),
        "key_fact_recall_answer_only": avg(single, "key_fact_recall_answer_only"),
        "multi_key_fact_recall": avg(multi, "key_fact_recall"),
        "unsupported_sentence_rate": M.unsupported_sentence_rate(qa.sentences),
        "absent_numbers": float(len(M.absent_numbers(qa.sentences))),
        "absent_entities": float(len(M.absent_entities(qa.sentences))),
        "abstention_accuracy": M.abstention_accuracy([bool(c.abstained) for c in unans]),
        "abstention_off_topic": M.rate(bool(c.abstained) for c in unans if c.kind == "off_topic"),
        "abstention_near_miss": M.rate(bool(c.abstained) for c in unans if c.kind == "near_miss"),
        "false_abstention_rate": M.false_abstention_rate(
            [bool(c.abstained) for c in [*single, *multi]]
        ),
        "absent_term_answers": float(
            sum(bool(c.details.get("absent_terms_present")) for c in unans)
        ),
        "model_sentence_share": M.rate(qa.model_shown),
        "latency_p50_s": M.percentile(qa.latency, 50),
        "latency_p95_s": M.percentile(qa.latency, 95),
    }
    return SuiteResult(
        name="qa",
        seconds=round(time.perf_counter() - t0, 2),
        values=values,
        help=QA_HELP,
        info={
            "questions": {"single": len(single), "multi": len(multi), "unanswerable": len(unans)},
            "sentences_judged": len(qa.sentences),
            "absent_numbers": M.absent_numbers(qa.sentences),
            "absent_entities": M.absent_entities(qa.sentences),
            "mean_timings_s": _mean_timings(results),
        },
        cases=results,
    )


def _mean_timings(results: Sequence[CaseResult]) -> dict[str, float]:
    """Mean seconds per pipeline stage over the questions that reached it."""
    stages: dict[str, list[float]] = {}
    for c in results:
        for stage, secs in c.details.get("timings", {}).items():
            stages.setdefault(stage, []).append(float(secs))
    return {k: round(sum(v) / len(v), 3) for k, v in stages.items()}


def run_tldr(
    assistant: Assistant, papers: Sequence[Paper], cases: Cases, *, tick: Tick
) -> SuiteResult:
    t0 = time.perf_counter()
    facts = {c.paper_id: c for c in cases.tldr}
    s = assistant.settings
    records = assistant.tldrs(papers, persist=False, on_done=lambda r, _reused: tick(r))
    by_id = {p.paper_id: p for p in papers}
    embedder = M.memoised(assistant.embedder)
    results: list[CaseResult] = []
    checks: list[M.TldrCheck] = []
    for rec in records:
        paper = by_id[rec.paper_id]
        fixture = facts.get(rec.paper_id)
        check = M.check_tldr(
            rec.tldr,
            title=paper.title,
            abstract=paper.abstract,
            numbers=fixture.numbers if fixture else (),
            entities=fixture.entities if fixture else (),
            max_words=s.tldr_max_words,
            embedder=embedder,
            threshold=s.support_threshold,
        )
        checks.append(check)
        results.append(
            CaseResult(
                suite="tldr",
                id=rec.paper_id,
                kind=rec.method,
                question=paper.title,
                answer=rec.tldr,
                passed=check.passed,
                why=check.why(),
                seconds=rec.seconds,
                details={
                    "support": check.support,
                    "words": check.words,
                    "shown_rows": tldr_shown(rec),
                },
            )
        )
    values: dict[str, float | None] = {
        "facts_check_pass_rate": M.rate(c.facts_ok for c in checks),
        "faithfulness": M.rate(c.faithful for c in checks),
        "length_compliance": M.rate(c.within_length for c in checks),
        "one_sentence_rate": M.rate(c.one_sentence for c in checks),
        "generated_share": M.rate(r.method == "generated" for r in records),
        "key_entity_rate": M.rate(c.mentions_key_entity for c in checks),
        "mean_words": M.mean(float(c.words) for c in checks),
        "seconds_p50": M.percentile([r.seconds for r in records], 50),
    }
    return SuiteResult(
        name="tldr",
        seconds=round(time.perf_counter() - t0, 2),
        values=values,
        help=TLDR_HELP,
        info={"papers": len(records), "missing_fixture": len(records) - len(facts)},
        cases=results,
    )


def run_judge(
    embedder: Embedder | None,
    threshold: float,
    papers: dict[str, Paper],
    cases: Cases,
    *,
    tick: Tick,
    judge_llm: ChatModel | None = None,
) -> SuiteResult:
    """The grounding judge on the labelled set; the source of each row is its abstract."""
    from assistant import grounding

    t0 = time.perf_counter()
    by_title = {p.title: p for p in papers.values()}
    rows: list[tuple[str, str, bool]] = []
    lexical: list[tuple[str, str, bool]] = []
    results: list[CaseResult] = []
    llm_rows: list[tuple[str, bool | None]] = []
    for j in cases.judge:
        paper = by_title[" ".join(j.title.split())]
        abstract = paper.abstract
        source = paper.title + "\n\n" + abstract
        sup = grounding.score_support(j.sentence, [source], embedder=embedder, threshold=threshold)
        lex = grounding.score_support(j.sentence, [source], threshold=threshold)
        rows.append((j.label, j.kind, not sup.supported))
        lexical.append((j.label, j.kind, not lex.supported))
        ok = sup.supported == (j.label == "good")
        why = []
        if not ok:
            verdict = "accepted" if sup.supported else f"rejected ({sup.reason or 'low support'})"
            why.append(f"{j.label} sentence {verdict}, score {sup.score:.2f}")
            if j.kind == M.HARD_NEGATION:
                why.append("hard negation: tracked, not gated")
        details: dict[str, object] = {"score": sup.score, "error_span": j.error_span}
        if judge_llm is not None:
            from evals.llm_judge import ask_judge

            verdict_llm = ask_judge(judge_llm, j.sentence, abstract)
            llm_rows.append((j.label, verdict_llm))
            details["llm_judge"] = verdict_llm
        results.append(
            CaseResult(
                suite="judge",
                id=j.id,
                kind=f"{j.label}/{j.kind}",
                question=j.sentence,
                answer=j.title,
                passed=ok,
                why=why,
                details=details,
            )
        )
        tick(results[-1])
    meta, lex_meta = M.judge_meta(rows), M.judge_meta(lexical)
    values: dict[str, float | None] = {
        "bad_caught_rate": meta.bad_caught_rate,
        "good_passed_rate": meta.good_passed_rate,
        "precision": meta.precision,
        "hard_negation_caught": meta.hard_negation_caught,
        "bad_caught_rate_lexical": lex_meta.bad_caught_rate,
        "good_passed_rate_lexical": lex_meta.good_passed_rate,
    }
    if judge_llm is not None:
        values["llm_judge_agreement"] = M.rate(v == (lab == "good") for lab, v in llm_rows)
        values["llm_judge_unparsed"] = M.rate(v is None for _, v in llm_rows)
    return SuiteResult(
        name="judge",
        seconds=round(time.perf_counter() - t0, 2),
        values=values,
        help=JUDGE_HELP,
        info={
            "by_kind": meta.by_kind,
            "rows": len(rows),
            "embedder": getattr(embedder, "name", None),
        },
        cases=results,
    )
