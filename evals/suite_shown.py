"""The ``shown`` audit: every sentence the assistant showed in this eval run, against hand labels.

The ``audit`` suite measures the judge on a fixed set of labelled model sentences. This one
measures what users see: after ``qa``, ``user`` and ``tldr`` have run, it collects each shown
sentence (answer sentences that passed the judge, lead and list quotes, TL;DRs) and grades it
without the judge:

* a **quote** (or an extractive TL;DR) is good when it occurs verbatim in the title or abstract
  of the paper it cites (parentheses may be left out): a mechanical check;
* a **model-written** sentence is graded by its hand label in
  ``evals/fixtures/shown_labelled.jsonl`` (keyed by the normalised sentence and its cited
  papers), written by a person reading the abstract, never by the judge.

The audited unsupported rate is the share of shown sentences graded bad. A model sentence this
run wrote that has no label yet is counted twice: once as good (``audited_unsupported_rate``,
the lower bound) and once as bad (``audited_unsupported_upper``), and listed as a case, so a
changed judge or model shows up as unlabelled output instead of silently inheriting old
labels. ``python -m evals.suite_shown REPORT.json`` prints the rows still to label.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.grounding.textnorm import norm_phrase
from assistant.types import Answer, Paper, Tldr
from evals.cases import FIXTURES_DIR
from evals.gate import CaseResult, SuiteResult

SHOWN_LABELS = FIXTURES_DIR / "shown_labelled.jsonl"
SHOWN_HELP = {
    "shown_sentences": "sentences shown in the qa, user and tldr suites of this run",
    "model_written_share": "share of shown sentences the model wrote (the rest are quotes)",
    "quote_verbatim_rate": "share of shown quotes found verbatim in the cited paper",
    "label_coverage": "share of shown model sentences that carry a hand label",
    "audited_unsupported_rate": "shown sentences graded bad / all shown (unlabelled = good)",
    "audited_unsupported_upper": "the same with unlabelled model sentences counted bad",
    "model_bad_rate": "of the labelled shown model sentences, the share labelled bad",
}


_PAREN = re.compile(r"\s*\([^()]*\)")


def _norm(text: str) -> str:
    return norm_phrase(text).strip()


def _strip_marks(text: str) -> str:
    """A shown sentence without its citation markers and the quotes around a quote."""
    text = re.sub(r"\s*\[\d+\](?:\s*\[\d+\])*", "", text).strip()
    return text.strip('"“”').strip()


def answer_shown(ans: Answer) -> list[dict[str, Any]]:
    """What ``ans`` showed, one row per sentence: text, origin ("model"/"quote"), cited ids."""
    if ans.abstained:
        return []
    by_marker = {c.marker: c.paper_id for c in ans.citations}
    if ans.kind == "list":
        return [{"text": c.quote, "origin": "quote", "papers": [c.paper_id]} for c in ans.citations]
    return [
        {
            "text": _strip_marks(s.text),
            "origin": s.origin,
            "papers": [by_marker[m] for m in s.cites if m in by_marker],
        }
        for s in ans.sentences
        if s.supported or s.origin == "quote"
    ]


def tldr_shown(rec: Tldr) -> list[dict[str, Any]]:
    origin = "model" if rec.method == "generated" else "quote"
    return [{"text": rec.tldr, "origin": origin, "papers": [rec.paper_id]}]


def _key(text: str, papers: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    return _norm(_strip_marks(text)), tuple(sorted(papers))


def load_labels(path: Path = SHOWN_LABELS) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return {_key(r["sentence"], r["paper_ids"]): r for r in rows}


def _verbatim(text: str, papers: Sequence[Paper]) -> bool:
    """In the paper as written, or with its parentheses left out (an extractive TL;DR drops
    "(Promptagator)" and the like)."""
    needle = _norm(text)
    for p in papers:
        source = p.title + " " + p.abstract
        if needle and any(needle in _norm(s) for s in (source, _PAREN.sub("", source))):
            return True
    return False


def collect(suites: Sequence[SuiteResult]) -> list[dict[str, Any]]:
    """Every shown row of the qa, user and tldr cases, with its suite, case id and kind."""
    rows = []
    for suite in suites:
        for case in suite.cases:
            for row in case.details.get("shown_rows", []):
                rows.append({"suite": suite.name, "case": case.id, "question": case.question} | row)
    return rows


def run_shown(
    suites: Sequence[SuiteResult], papers: dict[str, Paper], labels_path: Path = SHOWN_LABELS
) -> SuiteResult:
    t0 = time.perf_counter()
    labels = load_labels(labels_path)
    rows = collect(suites)
    bad = unlabelled = model = labelled_bad = quotes = verbatim = 0
    cases: list[CaseResult] = []
    for row in rows:
        cited = [papers[i] for i in row["papers"] if i in papers]
        if row["origin"] == "quote":
            quotes += 1
            ok = _verbatim(row["text"], cited)
            verbatim += ok
            bad += not ok
            why = "" if ok else "quote not found verbatim in the cited paper"
        else:
            model += 1
            label = labels.get(_key(row["text"], row["papers"]))
            if label is None:
                unlabelled += 1
                why = "model sentence without a hand label (label it: evals/suite_shown.py)"
            else:
                is_bad = label["label"] == "bad"
                labelled_bad += is_bad
                bad += is_bad
                why = f"labelled bad ({label.get('reason')})" if is_bad else ""
        if why:
            cases.append(
                CaseResult(
                    suite="shown",
                    id=f"{row['suite']}/{row['case']}",
                    kind=row["origin"],
                    answer=row["text"],
                    passed=False,
                    why=[why],
                    details={"papers": row["papers"]},
                )
            )
    n = len(rows)
    labelled = model - unlabelled
    values: dict[str, float | None] = {
        "shown_sentences": float(n),
        "model_written_share": model / n if n else None,
        "quote_verbatim_rate": verbatim / quotes if quotes else None,
        "label_coverage": labelled / model if model else None,
        "audited_unsupported_rate": bad / n if n else None,
        "audited_unsupported_upper": (bad + unlabelled) / n if n else None,
        "model_bad_rate": labelled_bad / labelled if labelled else None,
    }
    return SuiteResult(
        name="shown",
        seconds=round(time.perf_counter() - t0, 2),
        values=values,
        help=SHOWN_HELP,
        info={"quotes": quotes, "model_written": model, "unlabelled": unlabelled},
        cases=cases,
    )


def unlabelled_rows(report: Path, labels_path: Path = SHOWN_LABELS) -> list[dict[str, Any]]:
    """Model sentences shown in an eval report (``PATH.json``) that have no label yet."""
    labels = load_labels(labels_path)
    data = json.loads(report.read_text("utf-8"))
    suites = [SuiteResult.model_validate(s) for s in data["suites"]]
    out, seen = [], set()
    for row in collect(suites):
        key = _key(row["text"], row["papers"])
        if row["origin"] == "model" and key not in labels and key not in seen:
            seen.add(key)
            out.append(
                {
                    "suite": row["suite"],
                    "case": row["case"],
                    "question": row["question"],
                    "sentence": _strip_marks(row["text"]),
                    "paper_ids": row["papers"],
                }
            )
    return out


if __name__ == "__main__":  # pragma: no cover - a labelling aid
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m evals.suite_shown REPORT.json")
    for r in unlabelled_rows(Path(sys.argv[1])):
        print(json.dumps(r, ensure_ascii=False))
