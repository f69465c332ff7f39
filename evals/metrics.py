"""Evaluation metrics: pure, deterministic functions of pipeline outputs and fixtures.

Every support judgement here goes through :mod:`assistant.grounding.judge` — the same judge that
gates the answerer's and the TL;DR writer's sentences — so the evals measure the pipeline's
output with the pipeline's own definition of "supported", re-applied independently to what the
user finally sees (full cited abstracts, not the compressed prompt context).

Conventions
-----------
* Rates are floats in [0, 1]; an empty population gives ``None`` (no data is not a pass).
* Key facts: a fact is a list of acceptable alternatives; it is found when any alternative
  occurs, case-insensitively, in the *visible* text — the answer **and** its citation quotes,
  because the user sees the quotes too. An alternative that starts or ends with a digit must
  not run into neighbouring digits ("45" is not found in "450" or "2045"), the fixtures' rule,
  nor into a decimal or thousands part ("5" is not found in "5.5", "0.7" not in "10.7").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from assistant import grounding
from assistant.config import default
from assistant.protocols import Embedder

# --- generic -------------------------------------------------------------------------------------


def rate(flags: Iterable[bool]) -> float | None:
    """Share of True values; ``None`` when there are none."""
    items = list(flags)
    return sum(items) / len(items) if items else None


def mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(min(rank, len(ordered))) - 1]


# --- retrieval and citations ---------------------------------------------------------------------


def recall_at_k(gold: Sequence[str], retrieved: Sequence[str], k: int) -> float:
    """Share of gold paper ids among the first ``k`` retrieved ids."""
    if not gold:
        raise ValueError("recall_at_k needs at least one gold id")
    top = set(retrieved[:k])
    return sum(g in top for g in set(gold)) / len(set(gold))


def mrr(gold: Sequence[str], retrieved: Sequence[str]) -> float:
    """Reciprocal rank of the first gold id in ``retrieved`` (0 when none is there)."""
    wanted = set(gold)
    for rank, pid in enumerate(retrieved, 1):
        if pid in wanted:
            return 1.0 / rank
    return 0.0


def citation_validity(cited: Sequence[str], retrieved: Sequence[str]) -> bool:
    """Every cited paper was among the retrieved ones (cited ⊆ retrieved)."""
    return set(cited) <= set(retrieved)


def citation_gold_hit(cited: Sequence[str], gold: Sequence[str]) -> bool:
    """At least one cited paper is a gold paper."""
    return bool(set(cited) & set(gold))


# --- key facts -----------------------------------------------------------------------------------


def _pattern(alternative: str) -> re.Pattern[str]:
    text = re.escape(" ".join(alternative.split())).replace(r"\ ", r"\s+")
    lead = r"(?<!\d)(?<!\d[.,])" if alternative[:1].isdigit() else ""
    tail = r"(?![.,]?\d)" if alternative[-1:].isdigit() else ""
    return re.compile(lead + text + tail, re.IGNORECASE)


def fact_found(alternatives: Sequence[str], texts: Sequence[str]) -> bool:
    """Whether any alternative occurs in any of ``texts`` (see the module docstring)."""
    return any(_pattern(a).search(t) for a in alternatives if a.strip() for t in texts)


def missing_facts(facts: Sequence[Sequence[str]], texts: Sequence[str]) -> list[list[str]]:
    """The facts (each a list of alternatives) that none of ``texts`` contains."""
    return [list(f) for f in facts if not fact_found(f, texts)]


def key_fact_recall(facts: Sequence[Sequence[str]], texts: Sequence[str]) -> float:
    """Share of ``facts`` found in ``texts``."""
    if not facts:
        raise ValueError("key_fact_recall needs at least one fact")
    return 1.0 - len(missing_facts(facts, texts)) / len(facts)


# --- answer sentences ----------------------------------------------------------------------------


@dataclass
class SentenceResult:
    """The judge's verdict on one shown sentence."""

    text: str
    supported: bool
    score: float
    reason: str
    missing_numbers: list[str] = field(default_factory=list)
    missing_entities: list[str] = field(default_factory=list)


def judge_answer(
    answer: str,
    sources: Mapping[int, str],
    *,
    embedder: Embedder | None = None,
    threshold: float = grounding.DEFAULT_THRESHOLD,
) -> list[SentenceResult]:
    """Re-check every sentence of a shown answer against the cited sources.

    ``sources`` maps citation marker -> the cited paper's ``title + "\\n\\n" + abstract``.
    A sentence citing a marker that is not in ``sources`` is unsupported. With no sources at
    all (an answer without citations) every sentence is unsupported.
    """
    if not sources:
        return [
            SentenceResult(s, False, 0.0, "no cited source")
            for s in grounding.split_sentences(answer)
            if re.search(r"[A-Za-z0-9]", s)
        ]
    verdicts = grounding.check_sentences(answer, sources, embedder=embedder, threshold=threshold)
    return [
        SentenceResult(
            text=v.text,
            supported=v.supported,
            score=v.support.score,
            reason=v.support.reason,
            missing_numbers=list(v.support.missing_numbers),
            missing_entities=list(v.support.missing_entities),
        )
        for v in verdicts
    ]


def unsupported_sentence_rate(sentences: Sequence[SentenceResult]) -> float | None:
    """Share of sentences the judge does not support (micro-average over all sentences)."""
    return rate(not s.supported for s in sentences)


def absent_numbers(sentences: Sequence[SentenceResult]) -> list[str]:
    """Numbers in shown sentences that the cited sources do not contain."""
    return [n for s in sentences for n in s.missing_numbers]


def absent_entities(sentences: Sequence[SentenceResult]) -> list[str]:
    """Named entities in shown sentences that the cited sources do not contain."""
    return [e for s in sentences for e in s.missing_entities]


# --- abstention ----------------------------------------------------------------------------------


def abstention_accuracy(abstained_on_unanswerable: Sequence[bool]) -> float | None:
    """Share of unanswerable questions on which the assistant abstained."""
    return rate(abstained_on_unanswerable)


def false_abstention_rate(abstained_on_answerable: Sequence[bool]) -> float | None:
    """Share of answerable questions on which the assistant abstained."""
    return rate(abstained_on_answerable)


def terms_present(terms: Sequence[str], text: str) -> list[str]:
    """The ``terms`` (e.g. a near-miss question's ``absent_terms``) that occur in ``text``."""
    return [t for t in terms if t.strip() and _pattern(t).search(text)]


# --- TL;DRs --------------------------------------------------------------------------------------


@dataclass
class TldrCheck:
    words: int
    one_sentence: bool
    within_length: bool
    numbers_ok: bool
    entities_ok: bool
    faithful: bool
    support: float
    missing_numbers: list[str]
    missing_entities: list[str]
    reason: str
    mentions_key_entity: bool

    @property
    def facts_ok(self) -> bool:
        """The numeric/entity check: every number and named entity is in the source."""
        return self.numbers_ok and self.entities_ok

    @property
    def passed(self) -> bool:
        return self.facts_ok and self.faithful and self.one_sentence and self.within_length

    def why(self) -> list[str]:
        out = []
        if not self.numbers_ok:
            out.append(f"numbers not in the abstract: {', '.join(self.missing_numbers)}")
        if not self.entities_ok:
            out.append(f"entities not in the abstract: {', '.join(self.missing_entities)}")
        if not self.faithful:
            out.append(f"judge: not supported ({self.support:.2f}; {self.reason or 'low'})")
        if not self.one_sentence:
            out.append("more than one sentence")
        if not self.within_length:
            out.append(f"{self.words} words, over the limit")
        return out


def check_tldr(
    tldr: str,
    *,
    title: str,
    abstract: str,
    numbers: Sequence[str] = (),
    entities: Sequence[str] = (),
    max_words: int = default("tldr_max_words"),
    embedder: Embedder | None = None,
    threshold: float = grounding.DEFAULT_THRESHOLD,
) -> TldrCheck:
    """All TL;DR checks for one summary against its paper.

    Numbers may come from the abstract or the fixture's hand-checked ``numbers`` list;
    entities must be in the title or abstract. ``faithful`` is the judge's verdict against
    ``title + abstract``. ``mentions_key_entity``: a fixture entity occurs in the TL;DR.
    """
    source = f"{title}\n\n{abstract}"
    support = grounding.score_support(tldr, [source], embedder=embedder, threshold=threshold)
    listed = "; ".join(numbers)
    gate = grounding.score_support(tldr, [source, listed] if listed else [source])
    words = len(tldr.split())
    return TldrCheck(
        words=words,
        one_sentence=len(grounding.split_sentences(tldr)) == 1,
        within_length=0 < words <= max_words,
        numbers_ok=not gate.missing_numbers,
        entities_ok=not gate.missing_entities,
        faithful=support.supported,
        support=support.score,
        missing_numbers=list(gate.missing_numbers),
        missing_entities=list(gate.missing_entities),
        reason=support.reason,
        mentions_key_entity=bool(terms_present(list(entities), tldr)),
    )


# --- the judge itself ----------------------------------------------------------------------------

HARD_NEGATION = "hard_negation"


@dataclass
class JudgeMeta:
    bad_caught_rate: float | None  # recall of the judge on bad sentences (excl. hard negation)
    good_passed_rate: float | None  # share of good sentences the judge supports
    precision: float | None  # of the sentences it flags (excl. hard negation), share truly bad
    hard_negation_caught: float | None  # reported separately, never gated
    by_kind: dict[str, float]  # per kind: share judged correctly


def judge_meta(rows: Sequence[tuple[str, str, bool]]) -> JudgeMeta:
    """Meta-evaluate the judge on labelled rows ``(label, kind, flagged)``.

    ``label`` is "good" or "bad"; ``flagged`` is True when the judge called it unsupported.
    """
    scored = [(label, flagged) for label, kind, flagged in rows if kind != HARD_NEGATION]
    bad = [flagged for label, flagged in scored if label == "bad"]
    good = [not flagged for label, flagged in scored if label == "good"]
    flagged_labels = [label == "bad" for label, flagged in scored if flagged]
    kinds: dict[str, list[bool]] = {}
    for label, kind, flagged in rows:
        kinds.setdefault(kind, []).append(flagged == (label == "bad"))
    return JudgeMeta(
        bad_caught_rate=rate(bad),
        good_passed_rate=rate(good),
        precision=rate(flagged_labels),
        hard_negation_caught=rate(f for _, k, f in rows if k == HARD_NEGATION),
        by_kind={k: sum(v) / len(v) for k, v in sorted(kinds.items())},
    )


def yes_no(text: str) -> bool | None:
    """Parse an LLM judge's reply: True for yes, False for no, None when unparseable."""
    m = re.search(r"\b(yes|no)\b", text.lower())
    return None if m is None else m.group(1) == "yes"


class CachedEmbedder:
    """Memoises another embedder's vectors per text, for the eval's own judge calls (the same
    abstract sentences are judged again and again). Vectors are identical to the wrapped one's."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._cache: dict[str, NDArray[np.float32]] = {}

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            for text, vec in zip(todo, self.inner.embed(todo), strict=True):
                self._cache[text] = np.asarray(vec, dtype=np.float32)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def memoised(embedder: Embedder) -> CachedEmbedder:
    """``embedder`` wrapped in a :class:`CachedEmbedder` (once)."""
    return embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder)
