"""The hand-written fixtures (evals/fixtures/*.jsonl), loaded and resolved against the corpus.

Fixtures name papers by exact title; :func:`load_cases` maps every title to the ``paper_id``
that :func:`assistant.sources.parse_file` gives the sample corpus, and fails loudly when a
title no longer matches (a renamed paper would otherwise silently score zero).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from assistant.errors import FixtureError
from assistant.types import Paper

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
SAMPLE_CORPUS = (
    Path(__file__).resolve().parent.parent / "assistant" / "data" / "hf_daily_sample.txt"
)


class QACase(BaseModel):
    """An answerable question (``kind`` "single" or "multi")."""

    id: str
    question: str
    kind: Literal["single", "multi"] = "single"
    gold_titles: list[str]
    gold_ids: list[str] = Field(default_factory=list)
    key_facts: list[list[str]]
    note: str = ""


class UnanswerableCase(BaseModel):
    id: str
    question: str
    kind: Literal["off_topic", "near_miss"]
    about_title: str | None = None
    about_id: str | None = None
    absent_terms: list[str] = Field(default_factory=list)
    note: str = ""


class TldrCase(BaseModel):
    title: str
    paper_id: str = ""
    numbers: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)


class JudgeCase(BaseModel):
    id: str
    title: str
    sentence: str
    label: Literal["good", "bad"]
    kind: str
    error_span: str | None = None
    other_title: str | None = None


class Cases(BaseModel):
    answerable: list[QACase]
    multi: list[QACase]
    unanswerable: list[UnanswerableCase]
    tldr: list[TldrCase]
    judge: list[JudgeCase]


def _rows(path: Path) -> list[dict[str, object]]:
    rows = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FixtureError(f"{path.name}:{n}: invalid JSON: {exc}") from exc
    return rows


def _norm(title: str) -> str:
    return " ".join(title.split())


def load_cases(papers: list[Paper], fixtures_dir: Path = FIXTURES_DIR) -> Cases:
    """Read every fixture file and resolve titles to the ids of ``papers``."""
    ids = {_norm(p.title): p.paper_id for p in papers}

    def pid(title: str, where: str) -> str:
        try:
            return ids[_norm(title)]
        except KeyError:
            raise FixtureError(f"{where}: no paper titled {title!r} in the corpus") from None

    answerable = [QACase.model_validate(r) for r in _rows(fixtures_dir / "qa_answerable.jsonl")]
    multi = [
        QACase.model_validate(r | {"kind": "multi"}) for r in _rows(fixtures_dir / "qa_multi.jsonl")
    ]
    for case in [*answerable, *multi]:
        case.gold_ids = [pid(t, case.id) for t in case.gold_titles]
    unanswerable = [
        UnanswerableCase.model_validate(r) for r in _rows(fixtures_dir / "qa_unanswerable.jsonl")
    ]
    for u in unanswerable:
        if u.about_title:
            u.about_id = pid(u.about_title, u.id)
    tldr = [TldrCase.model_validate(r) for r in _rows(fixtures_dir / "tldr_facts.jsonl")]
    for t in tldr:
        t.paper_id = pid(t.title, f"tldr_facts {t.title[:40]!r}")
    judge = [JudgeCase.model_validate(r) for r in _rows(fixtures_dir / "judge_labelled.jsonl")]
    for j in judge:
        pid(j.title, j.id)
    return Cases(
        answerable=answerable, multi=multi, unanswerable=unanswerable, tldr=tldr, judge=judge
    )


def load_corpus(path: Path = SAMPLE_CORPUS) -> list[Paper]:
    """The sample corpus, parsed exactly as `assistant ingest` parses it."""
    from assistant.sources import parse_file

    result = parse_file(path)
    if not result.papers:
        raise FixtureError(f"{path}: no papers parsed")
    return result.papers
