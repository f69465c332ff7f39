"""Scoring evidence sentences for a question, and deciding whether the question is answerable.

Two small logistic combiners, fitted on the dev split of the fixtures by
``python -m evals.fit_answerability --fit`` (weights in ``assistant/data/answerability.json``):

* per sentence: the probability that it states the answer (dense similarity to the question,
  focus-word coverage, whether it offers what the question type needs, whether the asked-for
  thing appears with a value next to it, the paper's retrieval rank) — it orders the evidence;
* per question: the probability that the retrieved abstracts answer it at all, from the best
  sentence's probability, the lexical coverage the answerer used before, the best dense
  similarity, and whether the asked-for thing appears without a value (the near-miss pattern:
  "Which two datasets ...?" where the abstract says "two datasets" and names none).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant import grounding
from assistant.evidence.nouns import noun_features
from assistant.evidence.spans import mark_span
from assistant.evidence.terms import (
    GENERIC,
    focus_terms,
    head_terms,
    lexical_coverage,
    matches,
    new_entities,
    new_numbers,
    question_kind,
    slot_filled,
)
from assistant.protocols import Embedder

WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "data" / "answerability.json"

FEATURES = (
    "dense",
    "focus",
    "qwords",
    "quantity_match",
    "quantity_missing",
    "name_match",
    "named_paper",
    "head",
    "slot",
    "slot_missing",
    "rank",
    "first_sentence",
    "bias",
)


@dataclass(frozen=True)
class Source:
    """One retrieved paper as evidence: its rank and whether the question names it."""

    key: int  # the marker the answer cites it by
    paper_id: str
    title: str
    abstract: str
    rank: int = 0
    named: bool = False


@dataclass(frozen=True)
class Candidate:
    source: Source
    sentence: str
    index: int  # position of the sentence in the abstract
    features: Mapping[str, float]
    score: float  # probability that the sentence states the answer
    span: tuple[int, int] | None = None  # character span in ``sentence`` that answers

    @property
    def span_text(self) -> str:
        return self.sentence[self.span[0] : self.span[1]] if self.span else ""


def logistic(coef: Mapping[str, float], features: Mapping[str, float]) -> float:
    z = sum(coef.get(k, 0.0) * v for k, v in features.items())
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Weights:
    sentence: Mapping[str, float]
    question: Mapping[str, float]
    threshold: float  # on the question probability
    meta: Mapping[str, object] = field(default_factory=dict)

    def probability(self, features: Mapping[str, float]) -> float:
        return logistic(self.sentence, features)


@functools.cache
def load_weights(path: Path = WEIGHTS_FILE) -> Weights:
    data = json.loads(path.read_text("utf-8"))
    return Weights(
        sentence=data["sentence"],
        question=data["question"],
        threshold=float(data["threshold"]),
        meta=data.get("meta", {}),
    )


def features(
    question: str,
    sentence: str,
    index: int,
    source: Source,
    *,
    dense: float,
    kind: str,
) -> dict[str, float]:
    focus = focus_terms(question, [source.title])
    words = grounding.content_words(sentence)
    q_words = grounding.content_words(question) - GENERIC
    numbers = bool(new_numbers(sentence, question))
    head = head_terms(question)
    slot = slot_filled(question, sentence, kind, head)
    return {
        "dense": dense,
        "focus": matches(focus, words) / len(focus) if focus else 0.5,
        "qwords": matches(q_words, words) / len(q_words) if q_words else 0.0,
        "quantity_match": float(kind == "quantity" and numbers),
        "quantity_missing": float(kind == "quantity" and not numbers),
        "name_match": float(kind == "name" and bool(new_entities(sentence, question))),
        "named_paper": float(source.named),
        "head": float(bool(head) and matches(head, words) > 0),
        "slot": float(slot == 1.0),
        "slot_missing": float(slot == 0.0),
        "rank": 1.0 / (1 + source.rank),
        "first_sentence": float(index == 0),
        "bias": 1.0,
    }


def _cosines(question: str, sentences: Sequence[str], embedder: Embedder | None) -> list[float]:
    if embedder is None or not sentences:
        return [0.0] * len(sentences)
    vectors = embedder.embed([question, *sentences])
    q = vectors[0]
    rest = vectors[1:]
    norms = np.linalg.norm(rest, axis=1) * (np.linalg.norm(q) or 1.0)
    sims = rest @ q / np.where(norms == 0, 1.0, norms)
    return [float(s) for s in sims]


def rank_sentences(
    question: str,
    sources: Sequence[Source],
    embedder: Embedder | None,
    *,
    weights: Weights | None = None,
) -> list[Candidate]:
    """Every sentence of ``sources``, most likely to answer ``question`` first."""
    w = weights or load_weights()
    kind = question_kind(question)
    rows: list[tuple[Source, int, str]] = []
    for src in sources:
        for i, sentence in enumerate(grounding.split_sentences(src.abstract)):
            rows.append((src, i, sentence))
    sims = _cosines(question, [r[2] for r in rows], embedder)
    out = []
    for (src, i, sentence), sim in zip(rows, sims, strict=True):
        f = features(question, sentence, i, src, dense=sim, kind=kind)
        out.append(
            Candidate(
                source=src,
                sentence=sentence,
                index=i,
                features=f,
                score=w.probability(f),
                span=mark_span(question, sentence, kind=kind),
            )
        )
    out.sort(key=lambda c: (-c.score, c.source.rank, c.index))
    return out


QUESTION_FEATURES = (
    "lexical_pass",
    "lexical",
    "best_sentence",
    "dense",
    "focus",
    "slot",
    "slot_missing_only",
    "quantity_match",
    "open_named",
    "head_absent",
    "noun_absent",
    "noun_unfilled",
    "bias",
)
# The sign each question feature's weight may take (0: either). Evidence for the question can
# only raise its probability and the near-miss pattern only lower it, whatever a small dev set
# happens to correlate: the fit keeps these signs (evals/fit_answerability.py).
QUESTION_SIGNS = {
    "lexical_pass": 1,
    "lexical": 1,
    "best_sentence": 1,
    "dense": 1,
    "focus": 1,
    "slot": 1,
    "slot_missing_only": -1,
    "quantity_match": 1,
    "open_named": 0,
    "head_absent": -1,
    "noun_absent": -1,
    "noun_unfilled": -1,
    "bias": 0,
}


def question_features(
    question: str, candidates: Sequence[Candidate], sources: Sequence[Source]
) -> dict[str, float]:
    """What the question-level combiner sees: the best of each sentence feature, and the
    lexical coverage over the sources."""
    lexical = lexical_coverage(question, [s.abstract for s in sources], [s.title for s in sources])

    def top(key: str, among: Sequence[Candidate] = candidates) -> float:
        return max((c.features[key] for c in among), default=0.0)

    # whether the asked-for thing has a value is read in the paper the answer would lead with:
    # a name next to "datasets" in another paper's abstract fills nothing
    lead = [c for c in candidates if c.source.key == candidates[0].source.key]
    slot = top("slot", lead)
    # the noun asked about ("batch size", "base LLM") in the sentences the answer leads with
    absent, unfilled = noun_features(
        question,
        question_kind(question),
        [c.sentence for c in lead[:2]],
        [s.abstract for s in sources],
    )
    return {
        "lexical_pass": float(lexical > 0),
        "lexical": lexical,
        "best_sentence": max((c.score for c in candidates), default=0.0),
        "dense": top("dense"),
        "focus": top("focus"),
        "slot": slot,
        "slot_missing_only": float(top("slot_missing", lead) > 0 and slot == 0),
        "quantity_match": top("quantity_match"),
        # "What is UniVTG?": an abstract always says what its own paper is about
        "open_named": float(question_kind(question) == "open" and any(s.named for s in sources)),
        # "How many annotators ...?" where no retrieved sentence mentions annotators
        "head_absent": float(bool(head_terms(question)) and top("head") == 0),
        "noun_absent": absent,
        "noun_unfilled": unfilled,
        "bias": 1.0,
    }


@dataclass(frozen=True)
class Decision:
    probability: float
    answerable: bool
    features: Mapping[str, float]


def decide(
    question: str,
    candidates: Sequence[Candidate],
    sources: Sequence[Source],
    weights: Weights | None = None,
) -> Decision:
    """Can ``sources`` answer ``question``? Calibrated on dev; see the module docstring."""
    w = weights or load_weights()
    if not candidates:
        return Decision(0.0, False, {})
    f = question_features(question, candidates, sources)
    p = logistic(w.question, f)
    return Decision(p, p >= w.threshold, f)
