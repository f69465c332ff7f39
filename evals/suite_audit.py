"""The ``audit`` suite: the judge against hand labels of sentences the assistant really wrote.

``evals/fixtures/audit_labelled.jsonl`` holds answer sentences and TL;DRs the default model
wrote, each labelled good/bad by hand (with the reason) against the cited title + abstract,
without seeing any verdict. Every row is judged again by the current judge, as the answerer
and the TL;DR writer judge it (a TL;DR must also be a near-compression of one abstract
sentence, an answer sentence must give what its question asks for); the suite reports the
judge's precision (of what it would show, the share labelled good), its recall on the bad
ones, and the audited unsupported rate: the share of what it would show that a person
labelled bad. Relabel, don't tune: new outputs of a changed judge get new rows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from assistant.protocols import Embedder
from assistant.types import Paper
from evals.cases import FIXTURES_DIR
from evals.gate import CaseResult, SuiteResult

AUDIT_FILE = FIXTURES_DIR / "audit_labelled.jsonl"
AUDIT_HELP = {
    "precision": "of the audited sentences the judge shows, the share labelled good",
    "recall": "of the sentences labelled bad, the share the judge refuses",
    "audited_unsupported_rate": "share of shown sentences labelled bad (1 - precision)",
    "self_judged_unsupported_rate": "share of shown sentences the judge itself calls "
    "unsupported (always 0: it shows only what it passes; beside the audited rate on purpose)",
    "good_refused_rate": "of the sentences labelled good, the share the judge refuses",
}


def _shown(row: dict[str, object], papers: dict[str, Paper], embedder: Embedder | None) -> bool:
    from assistant import grounding
    from assistant.evidence.relevance import relevance_issue
    from assistant.grounding.compression import compression_issue

    ids = [str(i) for i in row["paper_ids"]]  # type: ignore[attr-defined]
    found = [papers[i] for i in ids if i in papers]
    sources = {n + 1: p.title + "\n\n" + p.abstract for n, p in enumerate(found)}
    if not sources:
        return False
    sentence = str(row["sentence"])
    if row["kind"] == "tldr":
        paper = found[0]
        return grounding.score_support(
            sentence, list(sources.values()), embedder=embedder
        ).supported and not compression_issue(sentence, paper.title, paper.abstract)
    verdicts = grounding.check_sentences(sentence, sources, embedder=embedder)
    abstracts = [p.abstract for p in found]
    question = str(row.get("question") or "")
    return (
        bool(verdicts)
        and all(v.supported for v in verdicts)
        and not relevance_issue(" ".join(v.clean for v in verdicts), question, abstracts)
    )


def _rates(rows: list[tuple[bool, bool]]) -> dict[str, float | None]:
    """(shown, labelled good) pairs -> precision, recall, audited rate, good refused."""
    shown_good = sum(s and g for s, g in rows)
    shown_bad = sum(s and not g for s, g in rows)
    refused_good = sum(not s and g for s, g in rows)
    refused_bad = sum(not s and not g for s, g in rows)
    shown, bad, good = shown_good + shown_bad, shown_bad + refused_bad, shown_good + refused_good
    return {
        "precision": shown_good / shown if shown else None,
        "recall": refused_bad / bad if bad else None,
        "audited_unsupported_rate": shown_bad / shown if shown else None,
        "self_judged_unsupported_rate": 0.0,
        "good_refused_rate": refused_good / good if good else None,
    }


def run_audit(
    papers: dict[str, Paper], embedder: Embedder | None, path: Path = AUDIT_FILE
) -> SuiteResult:
    """Rows carry a ``split`` (a fixed hash of their paper): rules are designed on ``dev``;
    the gate reads ``test``."""
    t0 = time.perf_counter()
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    pairs: dict[str, list[tuple[bool, bool]]] = {"test": [], "dev": []}
    by_kind: dict[str, list[int]] = {}
    cases: list[CaseResult] = []
    for row in rows:
        shown = _shown(row, papers, embedder)
        good = row["label"] == "good"
        pairs.setdefault(str(row.get("split", "test")), []).append((shown, good))
        counts = by_kind.setdefault(f"{row.get('split')}/{row['kind']}/{row['label']}", [0, 0])
        counts[0] += shown
        counts[1] += 1
        if shown != good:
            verdict = "shown" if shown else "refused"
            cases.append(
                CaseResult(
                    suite="audit",
                    id=str(row["id"]),
                    kind=f"{row['kind']}/{row['label']}",
                    question=str(row.get("question") or ""),
                    answer=str(row["sentence"]),
                    passed=False,
                    why=[f"labelled {row['label']} ({row.get('reason')}), judge {verdict}"],
                    details={"note": row.get("note", ""), "split": row.get("split")},
                )
            )
    values: dict[str, float | None] = {}
    for split in ("test", "dev"):
        values |= {f"{split}_{k}": v for k, v in _rates(pairs[split]).items()}
    values |= {f"all_{k}": v for k, v in _rates(pairs["test"] + pairs["dev"]).items()}
    return SuiteResult(
        name="audit",
        seconds=round(time.perf_counter() - t0, 2),
        values=values,
        help={f"{s}_{k}": v for s in ("test", "dev", "all") for k, v in AUDIT_HELP.items()},
        info={
            "rows": len(rows),
            "shown_of_split_kind_label": {k: f"{a}/{n}" for k, (a, n) in sorted(by_kind.items())},
            "tuned_on": "dev",
            "gated_on": "test",
        },
        cases=cases,
    )
