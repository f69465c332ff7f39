"""The ``shown`` audit grades what users saw with labels and a verbatim check, not the judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.types import Answer, Citation, Paper, SentenceCheck, Tldr
from evals.gate import CaseResult, SuiteResult
from evals.suite_shown import answer_shown, load_labels, run_shown, tldr_shown, unlabelled_rows

PAPER = Paper(
    paper_id="p1",
    title="GUIDE: A Dataset",
    abstract="We present GUIDE (a dataset), which contains 3.5K videos of 560 tasks. It helps.",
)


def _answer(*sentences: SentenceCheck) -> Answer:
    cite = Citation(marker=1, paper_id="p1", title=PAPER.title, chunk_id="p1#0", quote="x")
    return Answer(
        question="q", answer="a", abstained=False, citations=[cite],
        sentences=list(sentences),
    )  # fmt: skip


def _suite(name: str, rows: list[list[dict[str, Any]]]) -> SuiteResult:
    cases = [
        CaseResult(suite=name, id=f"c{i}", question="q", details={"shown_rows": r})
        for i, r in enumerate(rows)
    ]
    return SuiteResult(name=name, seconds=0.0, cases=cases)


def _labels(tmp_path: Path, *rows: dict[str, object]) -> Path:
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def test_answer_shown_keeps_passed_model_sentences_and_quotes() -> None:
    ans = _answer(
        SentenceCheck(text='"It contains 3.5K videos." [1]', supported=True, support=1,
                      cites=[1], origin="quote"),
        SentenceCheck(text="GUIDE has 560 tasks. [1]", supported=True, support=0.8, cites=[1]),
        SentenceCheck(text="GUIDE has 9 tasks. [1]", supported=False, support=0.1, cites=[1]),
    )  # fmt: skip
    rows = answer_shown(ans)
    assert [(r["text"], r["origin"]) for r in rows] == [
        ("It contains 3.5K videos.", "quote"),
        ("GUIDE has 560 tasks.", "model"),
    ]
    assert all(r["papers"] == ["p1"] for r in rows)
    assert answer_shown(ans.model_copy(update={"abstained": True})) == []


def test_tldr_shown_marks_generated_as_model_written() -> None:
    rec = Tldr(paper_id="p1", title="t", tldr="GUIDE has 560 tasks.", method="generated",
               support=1, words=4)  # fmt: skip
    assert tldr_shown(rec)[0]["origin"] == "model"
    assert tldr_shown(rec.model_copy(update={"method": "extractive"}))[0]["origin"] == "quote"


def test_rates_use_labels_and_verbatim_quotes_and_bound_unlabelled(tmp_path: Path) -> None:
    labels = _labels(
        tmp_path,
        {"sentence": "GUIDE has 560 tasks. [1]", "paper_ids": ["p1"], "label": "good"},
        {"sentence": "GUIDE has 3.5K tasks.", "paper_ids": ["p1"], "label": "bad",
         "reason": "false"},
    )  # fmt: skip
    rows = [
        {"text": "We present GUIDE, which contains 3.5K", "origin": "quote", "papers": ["p1"]},
        {"text": "It contains 4K videos.", "origin": "quote", "papers": ["p1"]},  # not verbatim
        {"text": "GUIDE has 560 tasks.", "origin": "model", "papers": ["p1"]},
        {"text": "GUIDE has 3.5K tasks.", "origin": "model", "papers": ["p1"]},
        {"text": "GUIDE helps models.", "origin": "model", "papers": ["p1"]},  # unlabelled
    ]
    res = run_shown([_suite("qa", [rows[:3]]), _suite("tldr", [rows[3:]])], {"p1": PAPER}, labels)
    v = res.values
    assert v["shown_sentences"] == 5
    assert v["quote_verbatim_rate"] == 0.5
    assert v["label_coverage"] == 2 / 3
    assert v["audited_unsupported_rate"] == 2 / 5  # the altered quote + the false sentence
    assert v["audited_unsupported_upper"] == 3 / 5
    assert v["model_bad_rate"] == 0.5
    assert sorted(c.why[0].split(" (")[0] for c in res.cases) == [
        "labelled bad",
        "model sentence without a hand label",
        "quote not found verbatim in the cited paper",
    ]


def test_a_quote_of_another_paper_is_not_verbatim(tmp_path: Path) -> None:
    other = Paper(paper_id="p2", title="Other", abstract="Nothing about videos.")
    rows: list[dict[str, Any]] = [
        {"text": "Contains 3.5K videos of 560 tasks.", "origin": "quote", "papers": ["p2"]}
    ]
    res = run_shown([_suite("qa", [rows])], {"p1": PAPER, "p2": other}, _labels(tmp_path))
    assert res.values["quote_verbatim_rate"] == 0.0


def test_unlabelled_rows_reads_a_report(tmp_path: Path) -> None:
    labels = _labels(tmp_path, {"sentence": "A.", "paper_ids": ["p1"], "label": "good"})
    rows: list[dict[str, Any]] = [
        {"text": "A. [1]", "origin": "model", "papers": ["p1"]},
        {"text": "B. [1]", "origin": "model", "papers": ["p1"]},
        {"text": "B.", "origin": "model", "papers": ["p1"]},  # the same sentence again
        {"text": "C.", "origin": "quote", "papers": ["p1"]},
    ]
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"suites": [_suite("user", [rows]).model_dump(mode="json")]}))
    out = unlabelled_rows(report, labels)
    assert [(r["sentence"], r["suite"], r["case"]) for r in out] == [("B.", "user", "c0")]
    assert load_labels(tmp_path / "missing.jsonl") == {}
