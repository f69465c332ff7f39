"""Fit the answerability combiner on the dev split; report dev and test side by side.

    python -m evals.fit_answerability        # report dev and test with the shipped weights
    python -m evals.fit_answerability --fit # refit on dev, writes assistant/data/answerability.json

Rows: answerable questions (qa_paraphrase, qa_answerable, qa_multi) and unanswerable ones
(qa_nearmiss, qa_unanswerable). Files without a ``split`` field were written and tuned on in
round 1, so they count as dev. Each sentence of the retrieved abstracts is a training row,
positive when it belongs to a gold paper and contains one of the question's key facts; the
question combiner is then fitted on the dev questions, and its threshold chosen on dev (least
cost, a refused answerable question counting twice an answered near-miss). No LLM runs:
retrieval and the embedder only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant import evidence
from assistant.config import load_settings
from assistant.gather import evidence_sources, leads_for, paper_abstracts
from assistant.service import Assistant
from assistant.types import Paper
from evals import metrics as M
from evals.cases import FIXTURES_DIR, load_corpus

NEAR_MISS_COST = 0.5  # an answered near-miss, relative to a refused answerable question
L2 = 1.0  # ridge penalty: a few hundred rows, ten features


@dataclass
class Row:
    file: str
    id: str
    split: str
    question: str
    answerable: bool
    gold: list[str]
    key_facts: list[list[str]]
    kind: str  # single, multi, near_miss, off_topic


def load_rows(papers: Sequence[Paper], fixtures: Path = FIXTURES_DIR) -> list[Row]:
    ids = {" ".join(p.title.split()): p.paper_id for p in papers}
    rows: list[Row] = []
    for name, answerable in (
        ("qa_paraphrase", True),
        ("qa_answerable", True),
        ("qa_multi", True),
        ("qa_nearmiss", False),
        ("qa_unanswerable", False),
    ):
        for line in (fixtures / f"{name}.jsonl").read_text("utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            gold = [ids[" ".join(t.split())] for t in r.get("gold_titles", [])]
            kind = r.get("kind") or ("multi" if name == "qa_multi" else "single")
            rows.append(
                Row(
                    name,
                    r["id"],
                    r.get("split", "dev"),
                    r["question"],
                    answerable,
                    gold,
                    r.get("key_facts", []),
                    kind,
                )
            )
    return rows


@dataclass
class Observed:
    row: Row
    gated: bool
    candidates: list[evidence.Candidate]
    sources: list[evidence.Source]


def observe(assistant: Assistant, rows: Sequence[Row]) -> list[Observed]:
    retriever = assistant.retriever
    out = []
    for row in rows:
        retrieval = retriever.search(row.question)
        if retrieval.gated or not retrieval.hits:
            out.append(Observed(row, True, [], []))
            continue
        # the sources exactly as the answerer builds them (a named paper alone, if any)
        abstracts = paper_abstracts(retriever, retrieval.hits)
        sources = evidence_sources(retrieval.hits, abstracts, set(retrieval.named))
        cands = evidence.rank_sentences(row.question, sources, retriever.embedder)
        out.append(Observed(row, False, cands, sources))
    return out


def label(obs: Observed, c: evidence.Candidate) -> bool:
    r = obs.row
    return (
        r.answerable
        and c.source.paper_id in r.gold
        and any(M.fact_found(f, [c.sentence]) for f in r.key_facts)
    )


def _newton(
    X: np.ndarray, y: np.ndarray, bias: int, signs: Sequence[int] | None = None
) -> np.ndarray:
    """Ridge-penalised logistic regression (the bias unpenalised), by Newton steps; with
    ``signs``, weight j keeps sign ``signs[j]`` (0: free), by an active set: a weight that
    would cross zero is held at zero, and released when the gradient asks for its sign."""
    n = X.shape[1]
    sign = np.array(signs if signs is not None else [0] * n, dtype=float)
    pen = np.full(n, L2)
    pen[bias] = 0.0
    held = np.zeros(n, dtype=bool)
    w = np.zeros(n)
    for _ in range(2 * n + 2):
        free = ~held
        for _ in range(100):
            p = 1 / (1 + np.exp(-X @ w))
            grad = X.T @ (p - y) + pen * w
            hess = (X * (p * (1 - p))[:, None]).T @ X + np.diag(pen) + 1e-9 * np.eye(n)
            step = np.zeros(n)
            step[free] = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        crossed = (sign * w < 0) & free
        if crossed.any():
            held |= crossed
            w[held] = 0.0
            continue
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (p - y) + pen * w
        wants = held & (sign * -grad > 1e-9)  # moving off zero in the allowed direction helps
        if not wants.any():
            break
        held &= ~wants
    return w


def fit_sentences(observed: Sequence[Observed]) -> dict[str, float]:
    X, y = [], []
    for obs in observed:
        for c in obs.candidates:
            X.append([c.features[k] for k in evidence.FEATURES])
            y.append(1.0 if label(obs, c) else 0.0)
    w = _newton(np.array(X), np.array(y), evidence.FEATURES.index("bias"))
    return {k: round(float(v), 5) for k, v in zip(evidence.FEATURES, w, strict=True)}


def _qfeatures(obs: Observed) -> dict[str, float]:
    return evidence.scorer.question_features(obs.row.question, obs.candidates, obs.sources)


def fit_questions(observed: Sequence[Observed]) -> dict[str, float]:
    """Answerable vs not, over the questions retrieval did not already gate (off-topic ones
    are gated, so they would teach nothing)."""
    rows = [o for o in observed if o.candidates]
    X = np.array([[_qfeatures(o)[k] for k in evidence.QUESTION_FEATURES] for o in rows])
    y = np.array([1.0 if o.row.answerable else 0.0 for o in rows])
    signs = [evidence.QUESTION_SIGNS[k] for k in evidence.QUESTION_FEATURES]
    w = _newton(X, y, evidence.QUESTION_FEATURES.index("bias"), signs)
    return {k: round(float(v), 5) for k, v in zip(evidence.QUESTION_FEATURES, w, strict=True)}


def rescore(observed: Sequence[Observed], weights: evidence.Weights) -> None:
    for obs in observed:
        cands = [
            evidence.Candidate(
                c.source, c.sentence, c.index, c.features, weights.probability(c.features), c.span
            )
            for c in obs.candidates
        ]
        cands.sort(key=lambda c: (-c.score, c.source.rank, c.index))
        obs.candidates = cands


def probability(obs: Observed, weights: evidence.Weights) -> float:
    return evidence.decide(obs.row.question, obs.candidates, obs.sources, weights).probability


def pick_threshold(observed: Sequence[Observed], weights: evidence.Weights) -> float:
    """The dev threshold with the lowest cost, where refusing an answerable question costs 1
    and answering a near-miss NEAR_MISS_COST: an answered near-miss shows the closest
    verbatim evidence (nothing false, just not the asked detail), a refusal shows nothing."""
    scores = [(probability(o, weights), o) for o in observed if o.row.kind != "off_topic"]
    ans = [p for p, o in scores if o.row.answerable]
    near = [p for p, o in scores if o.row.kind == "near_miss"]
    best = (float("inf"), 0.5)
    for tau in sorted({round(p, 6) for p, _ in scores}):
        refused = float(np.mean([p < tau for p in ans]))
        answered = float(np.mean([p >= tau for p in near]))
        cost = refused + NEAR_MISS_COST * answered
        if cost < best[0]:
            best = (cost, tau)
    return best[1]


def report(observed: Sequence[Observed], weights: evidence.Weights) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in ("dev", "test"):
        rows = [o for o in observed if o.row.split == split]
        ans = [o for o in rows if o.row.answerable]
        para = [o for o in ans if o.row.file == "qa_paraphrase"]
        nm = [o for o in rows if o.row.kind == "near_miss"]
        ot = [o for o in rows if o.row.kind == "off_topic"]
        said = {id(o): probability(o, weights) >= weights.threshold for o in rows}

        def abst(group: Sequence[Observed], said: dict[int, bool] = said) -> float | None:
            return M.rate(not said[id(o)] for o in group)

        def lead_fact(
            group: Sequence[Observed], use_span: bool, said: dict[int, bool] = said
        ) -> float | None:
            vals = []
            for o in group:
                if not said[id(o)] or not o.row.key_facts:
                    continue
                leads = leads_for(o.row.question, o.candidates, o.sources)
                texts = [c.span_text if use_span else c.sentence for c in leads]
                vals.append(M.key_fact_recall(o.row.key_facts, texts))
            return M.mean(vals)

        out[split] = {
            "answerable": len(ans),
            "near_miss": len(nm),
            "false_abstention": abst(ans),
            "false_abstention_paraphrase": abst(para),
            "near_miss_abstention": abst(nm),
            "off_topic_abstention": abst(ot),
            "lead_sentence_key_fact": lead_fact(ans, False),
            "lead_span_key_fact": lead_fact(ans, True),
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fit", action="store_true", help="refit on dev and write the weights file")
    ap.add_argument("--out", type=Path, default=evidence.WEIGHTS_FILE)
    ap.add_argument("--cases", action="store_true", help="print each question's top candidate")
    args = ap.parse_args(argv)
    papers = load_corpus()
    rows = load_rows(papers)
    with (
        tempfile.TemporaryDirectory(prefix="fit-answerability-") as tmp,
        Assistant(load_settings(data_dir=Path(tmp)), write=True) as assistant,
    ):
        assistant.library.ingest(papers)
        observed = observe(assistant, rows)
    if args.fit:
        dev = [o for o in observed if o.row.split == "dev"]
        sentence = fit_sentences(dev)
        rescore(observed, evidence.Weights(sentence=sentence, question={}, threshold=0.5))
        question = fit_questions(dev)
        weights = evidence.Weights(sentence=sentence, question=question, threshold=0.5)
        threshold = pick_threshold(dev, weights)
        weights = evidence.Weights(sentence=sentence, question=question, threshold=threshold)
        data = {
            "sentence": sentence,
            "question": question,
            "threshold": threshold,
            "meta": {
                "fitted_on": "dev split of qa_paraphrase, qa_answerable, qa_multi, qa_nearmiss, "
                "qa_unanswerable (files without a split count as dev)",
                "dev_questions": len(dev),
                "threshold_rule": "min over dev of refused-answerable share + "
                f"{NEAR_MISS_COST} x answered-near-miss share",
                "command": "python -m evals.fit_answerability --fit",
            },
        }
        args.out.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    else:
        weights = evidence.load_weights(args.out)
        rescore(observed, weights)
    if args.cases:
        for o in observed:
            top = o.candidates[0] if o.candidates else None
            p = probability(o, weights)
            mark = "ANS" if p >= weights.threshold else "abst"
            print(f"{o.row.split} {o.row.id} {o.row.kind} {mark} {p:.3f} {o.row.question}")
            if top:
                print(f"    {top.sentence[:150]!r} span={top.span_text!r}")
    print(json.dumps({"threshold": weights.threshold, **report(observed, weights)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
