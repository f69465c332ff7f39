"""Grounding: is every shown sentence supported by its source abstract?

One module for the answerer, the TL;DR writer and the evals. Everything is a pure,
deterministic function of its inputs, and every verdict carries an explanation.

A claim is judged against source texts in three steps:

1. **Hard gates** (each caps the score at ``GATE_CAP`` and names the culprit in ``reason``):
   every number of the claim occurs among the sources' numbers ("80%" = "80 percent",
   "2,000" = "2K", "360 million" = "360M"; a rounded "95%" matches "95.24%"); every named
   entity or technical term ("FLAN-T5", "GPT-4o", "COCO", "Masked Image Modeling") occurs in
   the source text; every URL is one the sources contain; comparative or absolute words
   ("slower", "first", "perfectly") are backed by a source word of the same kind; the claim
   does not copy a context of its best sentence with another number or name in it ("tasks
   from BIG-Bench" for "tasks from PromptSource"); and it does not state positively what the
   evidence only says after a negation ("requires finetuning" for "without requiring
   finetuning"), nor negate what the evidence does not.
2. **Lexical support.** Weighted content-word coverage of the claim by its best sentence,
   by a greedy cover of up to ``MAX_COVER`` sentences, and by the whole of the sources.
3. **Optional semantics.** With an embedder, the best cosine between the claim and its
   evidence sentences is mixed in. Only the source sentences that can still change the
   verdict are embedded (an exact bound, see ``_judge``), and ``CachingEmbedder`` avoids
   re-embedding them when an answer is checked sentence by sentence.

Callers should pass ``title + "\\n\\n" + abstract`` as a source when answers may name papers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from assistant.config import default
from assistant.embedding.cache import CachingEmbedder
from assistant.grounding.claims import Evidence, paper_names, titled
from assistant.grounding.framing import framing_issue, unfinished
from assistant.grounding.rules import polarity_conflict, swapped_fact, unsupported_comparisons
from assistant.grounding.safe_text import has_external_url, known_urls, strip_unsafe, url_key
from assistant.grounding.structure import structure_issue, vacuity_issue
from assistant.grounding.textnorm import (
    NumberMention,
    content_words,
    entity_in_text,
    extract_entities,
    extract_numbers,
    find_urls,
    norm_phrase,
    number_mentions,
    split_sentences,
    stem,
    strip_citations,
    word_set,
)
from assistant.protocols import Embedder

__all__ = [
    "DEFAULT_THRESHOLD",
    "CachingEmbedder",
    "SentenceVerdict",
    "Support",
    "check_sentences",
    "content_words",
    "extract_entities",
    "extract_numbers",
    "has_external_url",
    "scale",
    "score_support",
    "split_sentences",
    "strip_unsafe",
]

DEFAULT_THRESHOLD: float = default("support_threshold")
GATE_CAP = 0.2  # highest score a claim with an unsupported number or entity can get
SHORT_CAP = 0.3  # highest score of a claim with too few content words, unless quoted
MIN_CONTENT_WORDS = 2
SIM_FLOOR, SIM_CEIL = 0.3, 0.85  # cosine mapped linearly onto 0..1 between these
LEX_WEIGHT = 0.75  # share of the lexical score when an embedder is given (MiniLM-calibrated)
MAX_COVER, MIN_GAIN = 3, 0.1  # evidence: up to 3 sentences, each adding >= 10% coverage
W_BEST, W_COVER, W_WHOLE = 0.3, 0.4, 0.3  # lexical score: best sentence, evidence, source
STRUCTURE = True  # the structure checks of :mod:`.structure` (off: the lexical judge alone)
PRUNE = True  # embed only the sentences that can change a verdict (a switch for the tests)
GENERIC_WEIGHT = 0.5  # words that say little about a specific paper count half
_GENERIC = frozenset(
    stem(w)
    for w in word_set(
        """use using used show shows shown propose proposed present introduce method methods
        approach approaches model models paper work works result results task tasks achieve
        achieves perform performance based new novel study demonstrate different various
        existing also framework help can well large effective significantly author authors
        researchers"""
    )
)
# A subject that points back at the previous sentence's paper.
_ANAPHOR_RE = re.compile(
    r"^(?:it|its|this|these|they|their|such|the same|"
    r"the (?:method|approach|model|framework|process|technique|system|dataset|paper|work))\b",
    re.IGNORECASE,
)
_MARKER_RE = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_CITING_RE = re.compile(
    r"^(?:according to|as (?:shown|reported|described|stated|noted|discussed) (?:in|by)|in|per)"
    r"\s+(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]\s*)+,?\s*",
    re.IGNORECASE,
)
_MARKDOWN_RE = re.compile(r"(\*\*|__|`|^#+\s*|^\s*(?:[-*•]|\d{1,2}[.)])\s+)", re.MULTILINE)


class Support(BaseModel):
    """How well one claim is supported by its sources, and why."""

    score: float = Field(ge=0.0, le=1.0)
    supported: bool
    best_sentence: str = ""  # verbatim sentence of sources[best_source]
    best_source: int | None = None  # index into the sources passed in
    missing_numbers: list[str] = Field(default_factory=list)
    missing_entities: list[str] = Field(default_factory=list)
    content_overlap: float = 0.0  # weighted coverage of the claim's words by best_sentence
    similarity: float | None = None  # best cosine with the evidence, when an embedder was given
    reason: str = ""  # "" when supported, else the first rule that failed


class SentenceVerdict(BaseModel):
    """One sentence of an answer: its citations and whether it may be shown."""

    text: str  # verbatim, with citation markers
    clean: str  # markers and markdown removed
    cites: list[int] = Field(default_factory=list)
    cited_all: bool = False  # cited nothing, so it was checked against every source
    best_source_id: int | None = None  # key in the sources mapping
    support: Support

    @property
    def supported(self) -> bool:
        return self.support.supported


@dataclass(frozen=True)
class _Index:
    """Source sentences with their features, built once per call."""

    texts: tuple[str, ...]
    owner: tuple[int, ...]  # index of the source each sentence comes from
    words: tuple[frozenset[str], ...]
    numbers: tuple[frozenset[str], ...]
    sources: tuple[str, ...]
    mentions: tuple[tuple[NumberMention, ...], ...]  # per source
    titled: tuple[bool, ...]  # per source: its first line is the paper's title
    methods: tuple[frozenset[str], ...]  # per source: stems of the paper's own method names


def _index(sources: Sequence[str]) -> _Index:
    return _index_of(tuple(sources))


# A TL;DR's retries and an answer's sentences are judged against the same sources again.
@functools.lru_cache(maxsize=64)
def _index_of(sources: tuple[str, ...]) -> _Index:
    texts, owner = [], []
    for i, source in enumerate(sources):
        for sentence in split_sentences(source):
            texts.append(sentence)
            owner.append(i)
    return _Index(
        texts=tuple(texts),
        owner=tuple(owner),
        words=tuple(frozenset(content_words(t)) for t in texts),
        numbers=tuple(frozenset(extract_numbers(t)) for t in texts),
        sources=tuple(sources),
        mentions=tuple(tuple(number_mentions(s)) for s in sources),
        titled=tuple(titled(s) for s in sources),
        methods=tuple(paper_names(s) for s in sources),
    )


def _clean(text: str) -> str:
    """The sentence without markdown, list markers and citation markers ("[1]", and the
    "According to [1]," that introduces one)."""
    text = _CITING_RE.sub("", _MARKDOWN_RE.sub("", text).strip())
    text = re.sub(r"\s+(?=[.,;:!?](?:\s|$))", "", " ".join(strip_citations(text).split()))
    return text[:1].upper() + text[1:]


def coverage(claim: set[str], words: frozenset[str] | set[str]) -> float:
    """Weighted share of the claim's content words found in ``words`` (generic words count less)."""
    weights = {w: GENERIC_WEIGHT if w in _GENERIC else 1.0 for w in claim}
    total = sum(weights.values())
    return sum(v for w, v in weights.items() if w in words) / total if total else 0.0


def _number_ok(mention: NumberMention, known: Sequence[NumberMention]) -> bool:
    return any(
        mention.key in m.forms
        or (  # a rounded figure: "95%" for "95.24%", "0.34" for "0.336"
            m.unit == mention.unit
            and m.decimals > mention.decimals
            and round(m.value, mention.decimals) == mention.value
        )
        for m in known
    )


def _entity_ok(entity: str, sources: Sequence[str]) -> bool:
    if any(entity_in_text(entity, s) for s in sources):
        return True
    core = "-".join(p for p in entity.split("-") if not p.islower())  # "LLM-based" -> "LLM"
    if core and core != entity and any(entity_in_text(core, s) for s in sources):
        return True
    words = entity.split()  # a capitalised phrase may be a paraphrase of known words
    return len(words) > 1 and all(any(entity_in_text(w, s) for s in sources) for w in words)


def scale(cosine: float) -> float:
    """A cosine mapped onto 0..1 between SIM_FLOOR and SIM_CEIL."""
    return min(1.0, max(0.0, (cosine - SIM_FLOOR) / (SIM_CEIL - SIM_FLOOR)))


class _Vectors:
    """Embeddings of the source sentences and of the claims listed after them, made only when
    the judge first needs them: it needs about a third of an abstract's sentences (see
    ``_judge``), and every need is one batched embedder call."""

    def __init__(self, embedder: Embedder, texts: Sequence[str]) -> None:
        self.embedder = embedder
        self.texts = texts
        self.vecs: dict[int, np.ndarray] = {}

    def get(self, rows: Sequence[int]) -> None:
        todo = [r for r in dict.fromkeys(rows) if r not in self.vecs]
        if todo:
            found = self.embedder.embed([self.texts[r] for r in todo])
            self.vecs.update(zip(todo, np.asarray(found, dtype=np.float32), strict=True))

    def cosines(self, row: int, others: Sequence[int]) -> dict[int, float]:
        self.get([row, *others])
        return {o: float(self.vecs[o] @ self.vecs[row]) for o in others}


def _judge(
    claim: str,
    index: _Index,
    allowed: Sequence[int],
    threshold: float,
    vectors: _Vectors | None = None,
    claim_row: int = -1,
) -> Support:
    """Score a cleaned claim against the sentences of the ``allowed`` sources; with
    ``vectors``, the claim is ``vectors.texts[claim_row]``."""
    rows = [i for i, o in enumerate(index.owner) if o in allowed]
    sources = [index.sources[i] for i in allowed]
    if not claim or not rows:
        why = "empty sentence" if not claim else "no source text"
        return Support(score=0.0, supported=False, reason=why)
    words = content_words(claim)
    known = [m for i in allowed for m in index.mentions[i]]
    missing_numbers = list(
        dict.fromkeys(m.key for m in number_mentions(claim) if not _number_ok(m, known))
    )
    missing_entities = sorted(e for e in extract_entities(claim) if not _entity_ok(e, sources))

    covs = {r: coverage(words, index.words[r]) for r in rows}
    claim_keys = [m.key for m in number_mentions(claim)]
    lexical = {r: covs[r] + 0.25 * len(set(claim_keys) & index.numbers[r]) for r in rows}
    sims: dict[int, float] = {}
    candidates = rows
    if vectors is not None:
        # A row scores lexical + 0.5 * scaled cosine <= lexical + 0.5, so once the lexically
        # best row's full score is known, rows below it by more than 0.5 cannot win: only the
        # rest are embedded, and the best row is the same as with every row embedded.
        top = min(rows, key=lambda r: (-lexical[r], r))
        sims = vectors.cosines(claim_row, [top])
        floor = lexical[top] + 0.5 * scale(sims[top])
        candidates = [r for r in rows if lexical[r] + 0.5 >= floor or not PRUNE]
        sims |= vectors.cosines(claim_row, candidates)
    best = max(candidates, key=lambda r: (lexical[r] + 0.5 * scale(sims.get(r, 0.0)), -r))
    cover, covered = [best], set(index.words[best])
    for _ in range(MAX_COVER - 1):  # greedily add the sentences that cover most of the rest
        gains = {r: coverage(words, covered | index.words[r]) for r in rows if r not in cover}
        extra = max(gains, key=lambda r: (gains[r], -r), default=None)
        if extra is None or gains[extra] - coverage(words, covered) < MIN_GAIN:
            break
        cover.append(extra)
        covered |= index.words[extra]
    if vectors is not None:
        sims |= vectors.cosines(claim_row, [r for r in cover if r not in sims])
    whole = coverage(words, frozenset().union(*(index.words[r] for r in rows)))
    score = W_BEST * covs[best] + W_COVER * coverage(words, covered) + W_WHOLE * whole
    similarity = max(sims[r] for r in cover) if sims else None
    if similarity is not None:
        score = LEX_WEIGHT * score + (1 - LEX_WEIGHT) * scale(similarity)

    reason = ""
    if missing_numbers:
        score, reason = min(score, GATE_CAP), f"number {', '.join(missing_numbers)} not in source"
    elif missing_entities:
        names = ", ".join(missing_entities)
        score, reason = min(score, GATE_CAP), f"entity {names} not in source"
    elif len(words) < MIN_CONTENT_WORDS and not any(
        norm_phrase(claim).strip(" ") in norm_phrase(s) for s in sources
    ):
        score, reason = min(score, SHORT_CAP), "too few content words"
    elif urls := [u for u in find_urls(claim) if url_key(u) not in known_urls(sources)]:
        score, reason = min(score, GATE_CAP), f"url {urls[0]} not in source"
    elif comparisons := unsupported_comparisons(claim, sources):
        score, reason = min(score, GATE_CAP), f"comparison {comparisons[0]!r} not in source"
    elif swap := swapped_fact(claim, index.texts[best]):
        score, reason = min(score, GATE_CAP), swap
    elif polarity := polarity_conflict(claim, [index.texts[r] for r in cover]):
        score, reason = min(score, GATE_CAP), polarity
    elif STRUCTURE and (issue := _structure(claim, index, best)):
        score, reason = min(score, GATE_CAP), issue
    if not reason and score < threshold:
        reason = f"low overlap with source ({covs[best]:.2f})"
    return Support(
        score=round(min(1.0, max(0.0, score)), 4),
        supported=not reason and score >= threshold,
        best_sentence=index.texts[best],
        best_source=allowed.index(index.owner[best]),
        missing_numbers=missing_numbers,
        missing_entities=missing_entities,
        content_overlap=round(covs[best], 4),
        similarity=None if similarity is None else round(similarity, 4),
        reason=reason,
    )


def _structure(claim: str, index: _Index, best: int) -> str:
    """Structure checks against the chosen sentence (see :mod:`.structure`)."""
    owner = index.owner[best]
    rows = [r for r, o in enumerate(index.owner) if o == owner]
    head = index.sources[owner].split("\n", 1)[0] if index.titled[owner] else ""
    in_title = [r for r in rows if head and index.texts[r] in head]  # "Don't Stop? Make ..."
    title = head.strip()
    body = [r for r in rows if r not in in_title]
    if not body:
        return vacuity_issue(claim, title)
    if best not in body:  # the title matched best: check against the best abstract sentence
        words = content_words(claim)
        best = max(body, key=lambda r: (coverage(words, index.words[r]), -r))
    at = body.index(best)
    neighbours = tuple(index.texts[r] for r in body[max(0, at - 1) : at + 2] if r != best)
    others = tuple(index.texts[r] for r in body)
    ev = Evidence(index.texts[best], neighbours, title, index.methods[owner], others)
    return (
        vacuity_issue(claim, title, ev.sentence)
        or framing_issue(claim, ev)
        or structure_issue(claim, ev, generic=_GENERIC)
    )


def score_support(
    claim: str,
    sources: Sequence[str],
    *,
    embedder: Embedder | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Support:
    """How well ``claim`` is supported by ``sources`` (see the module docstring)."""
    index = _index(sources)
    clean = _clean(claim)
    vectors = _Vectors(embedder, [*index.texts, clean]) if embedder is not None else None
    return _judge(clean, index, range(len(sources)), threshold, vectors, len(index.texts))


def _sentence_units(text: str) -> list[str]:
    """Answer sentences, with a lone marker run ("[1]") attached to the sentence before."""
    units: list[str] = []
    for sentence in split_sentences(text):
        if units and not _clean(sentence).strip(" .,;:"):
            units[-1] = units[-1] + " " + sentence
        else:
            units.append(sentence)
    return units


def check_sentences(
    text: str,
    sources: Mapping[int, str],
    *,
    embedder: Embedder | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[SentenceVerdict]:
    """Judge every sentence of an answer against the sources its ``[n]`` markers cite
    (all sources when it cites none). Sentences without any word are skipped. In the
    verdicts, ``support.best_source`` indexes ``list(sources)`` and ``best_source_id`` is
    the matching key."""
    keys = list(sources)
    index = _index([sources[k] for k in keys])
    units = [(u, _clean(u)) for u in _sentence_units(text)]
    units = [(u, c) for u, c in units if re.search(r"[A-Za-z0-9]", c)]
    vectors = None
    if embedder is not None and index.texts and units:
        vectors = _Vectors(embedder, [*index.texts, *(c for _, c in units)])
        vectors.get(range(len(index.texts), len(vectors.texts)))  # the claims in one call
    verdicts: list[SentenceVerdict] = []
    for n, (unit, clean) in enumerate(units):
        cites: list[int] = []
        for group in _MARKER_RE.findall(unit):
            cites += [int(c) for c in re.split(r"\s*[,;]\s*", group) if int(c) not in cites]
        unknown = [c for c in cites if c not in sources]
        if unknown:
            support = Support(
                score=0.0, supported=False, reason=f"cites unknown source [{unknown[0]}]"
            )
            verdicts.append(SentenceVerdict(text=unit, clean=clean, cites=cites, support=support))
            continue
        allowed = [keys.index(c) for c in cites] if cites else list(range(len(keys)))
        support = _judge(clean, index, allowed, threshold, vectors, len(index.texts) + n)
        previous = verdicts[-1].cites if verdicts else []
        switched = bool(cites and previous and not set(cites) & set(previous))
        why = ""
        if STRUCTURE and support.supported and unfinished(unit, clean):
            why = "unfinished: the sentence stops without a full stop"
        elif STRUCTURE and support.supported and switched and _ANAPHOR_RE.match(clean):
            # "This process ... [2]" right after a sentence about [1]
            why = f"its subject refers back to [{previous[0]}] but it cites [{cites[0]}]"
        if why:
            support = support.model_copy(
                update={"supported": False, "reason": why, "score": min(support.score, GATE_CAP)}
            )
        best_id = None
        if support.best_source is not None:  # re-based: an index into list(sources)
            position = allowed[support.best_source]
            best_id = keys[position]
            support = support.model_copy(update={"best_source": position})
        verdicts.append(
            SentenceVerdict(
                text=unit,
                clean=clean,
                cites=cites,
                cited_all=not cites,
                best_source_id=best_id,
                support=support,
            )
        )
    return verdicts
