"""Questions of the form "Which papers ...?", answered by listing every paper that matches.

Retrieval's top_k is the wrong tool: the answer is every paper, however deep in its abstract the
concept (the words after "which papers", less the verb linking them) appears. Each paper is
scored by its best sentence: the share of the concept's weight it covers with the title (rare
words weigh more; "mixture of experts" matches "mixture-of-experts", and "MoE" once an abstract
defines it), plus the embedder's cosine, which settles close calls and orders the list. Quotes
are verbatim abstract sentences with the matching phrase marked as the span.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from assistant import grounding
from assistant.config import AnswerConfig
from assistant.grounding.textnorm import STOPWORDS, stem, word_set
from assistant.injection import is_instruction_like
from assistant.retrieve import Retriever
from assistant.types import ABSTAIN, Answer, Citation, Paper, RetrievedRef

# Tuned on the dev rows of evals/fixtures/qa_which_papers.jsonl only.
MIN_COVERAGE = 0.5  # under this share of the concept a sentence is no evidence at all
THRESHOLD = 0.82  # coverage + DENSE_WEIGHT * cosine a paper needs to be listed
DENSE_WEIGHT = 0.5
PARTIAL = 0.5  # credit for part of a hyphenated compound ("generalized" ~ "general-purpose")
SENTENCES_PER_PAPER = 3  # best lexical sentences per paper that the embedder chooses between
MAX_EMBEDDED = 64  # papers whose sentences are embedded per question (the rest: words alone)
MAX_GAP = 6  # tokens between matches still marked as one span
CLAIM_REACH = 4  # tokens from "introduce" to what is introduced ("we present a new benchmark")
ACRONYM_WINDOW = 10  # tokens before "(MoE)" that must hold what it abbreviates
MAX_PREPARED = 50_000  # abstracts kept tokenised between questions

_PLURAL = r"(?:papers|abstracts|studies|articles|publications|ones)"
_WORKS = r"works(?!\s+(?:best|better|well|worse)\b)"  # "what works best" is not a list
_LEAD = re.compile(
    rf"^\s*(?:(?:which|what)\s+(?:of\s+(?:the|these|those|my)\s+)?(?:{_PLURAL}|{_WORKS})"
    rf"|what\s+are\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?{_PLURAL}"
    rf"|(?:list|name|show|find|give)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:{_PLURAL}|works)"
    rf"|(?:are\s+there|do|does)\s+(?:any\s+)?(?:other\s+)?(?:of\s+the\s+)?{_PLURAL}"
    r")\b\s*(?:(?:that|which|who|where|in\s+which)\b)?\s*",
    re.IGNORECASE,
)
# Words linking the papers to the concept ("use", "deal with", "describe their method as") or
# saying what kind of answer is wanted: not what a sentence has to mention.
_LINKING = word_set(
    """use used using employ apply deal study work describe mention report result touch discuss
    address tackle focus involve concern relate consider explore investigate evaluate propose
    introduce present release develop build method approach technique their own main mainly
    primarily mostly chiefly paper any some several kind type new novel newly are is"""
)
_RELATION = _LINKING | {stem(w) for w in _LINKING}
_MAIN = re.compile(r"\b(?:mainly|primarily|mostly|chiefly|main)\b", re.IGNORECASE)
_NOVEL = re.compile(r"\b(?:new|novel|newly)\b", re.IGNORECASE)
_SUBJECT = word_set("we our this here")  # "we introduce", "this paper presents"
_CLAIM = frozenset(map(stem, word_set("present introduce propose develop release construct build")))
_FRESH = frozenset({"new", "novel"})
_WORD = re.compile(r"[A-Za-z0-9]+")
_ALTERNATIVE = re.compile(r"\s*(?:,?\s+\b(?:or|and/or)\b\s+|,\s*)\s*", re.IGNORECASE)


def _norm(word: str) -> str:
    w = word.lower()
    return stem(w) if w.isalpha() else w


# A sentence or a title, tokenised once: stems, where each occurs, and the tokens written with
# two capitals or more (the acronyms it could spell).
class _Text:
    __slots__ = ("caps", "index", "spans", "stems", "text")

    def __init__(self, text: str) -> None:
        found = list(_WORD.finditer(text))
        self.text, self.spans = text, [m.span() for m in found]
        self.stems = [_norm(m.group()) for m in found]
        self.caps = [i for i, m in enumerate(found) if sum(c.isupper() for c in m.group()) >= 2]
        self.index: dict[str, list[int]] = {}
        for i, s in enumerate(self.stems):
            self.index.setdefault(s, []).append(i)


@functools.lru_cache(maxsize=MAX_PREPARED)  # abstracts stay tokenised between questions
def _sentences(abstract: str) -> tuple[_Text, ...]:
    """The evidence sentences of an abstract (planted instructions never count)."""
    kept = (s for s in grounding.split_sentences(abstract) if not is_instruction_like(s))
    return tuple(_Text(s) for s in kept)


def _same(a: str, b: str) -> bool:
    """Stems the stemmer left apart though one word inflects the other (supervis/supervision)."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return a == b or (len(short) >= 5 and long_.startswith(short) and len(long_) - len(short) <= 4)


class _Unit(NamedTuple):  # a word the concept names, or a compound matched contiguously
    parts: tuple[str, ...]
    text: str


class _Alternative(NamedTuple):
    units: list[_Unit]
    acronyms: dict[str, tuple[int, ...]]  # moe -> the units it abbreviates


def concept_of(question: str) -> str:
    """What a list question asks about: the words after "which papers"."""
    m = _LEAD.match(question)
    return (question[m.end() :] if m else question).strip().rstrip("?.!").strip()


def is_list_question(question: str) -> bool:
    """True for "Which papers ...?", "List all the papers that ...", "What papers ...?"; not
    for "Which dataset does X use?" (a question about one paper)."""
    return bool(_LEAD.match(question)) and bool(_units_of(concept_of(question)))


def _units_of(text: str) -> list[_Unit]:
    units = []
    for word in re.findall(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*", text):
        low = word.lower()
        if "-" in word or not (low in STOPWORDS or _norm(low) in _RELATION or len(word) < 2):
            units.append(_Unit(tuple(_norm(p) for p in word.split("-")), word))
    return units


def _acronyms(text: str, units: Sequence[_Unit]) -> dict[str, tuple[int, ...]]:
    """What runs of the concept's words could be abbreviated as: "mixture of experts" -> moe
    (every initial), "retrieval-augmented generation" -> rag (compounds split)."""
    of_part = {p: u for u, unit in enumerate(units) for p in unit.parts}
    words = _WORD.findall(text)
    owner = [of_part.get(_norm(w)) for w in words]  # None: a stopword between ("of")
    out: dict[str, tuple[int, ...]] = {}
    for i, j in itertools.combinations(range(len(words) + 1), 2):
        if not 2 <= j - i <= 5 or owner[i] is None or owner[j - 1] is None:
            continue
        run = list(zip(words[i:j], owner[i:j], strict=True))
        covered = tuple(sorted({o for _, o in run if o is not None}))
        every, content = (w for w, _ in run), (w for w, o in run if o is not None)
        for initials in ("".join(w[0] for w in every), "".join(w[0] for w in content)):
            if len(initials) >= 3:
                out.setdefault(initials.lower(), covered)
    return out


def _alternatives(concept: str) -> list[_Alternative]:
    """Split at "or": "medical or biomedical data" -> [medical data], [biomedical data]; a
    one-word alternative borrows the last one's head noun ("instructional or how-to videos")."""
    pieces = [(p, us) for p in _ALTERNATIVE.split(concept) if (us := _units_of(p))]
    out = []
    for i, (piece, units) in enumerate(pieces):
        last = pieces[-1][1]
        if len(units) == 1 and len(last) > 1 and i < len(pieces) - 1:
            units, piece = [*units, last[-1]], f"{piece} {last[-1].text}"
        out.append(_Alternative(units, _acronyms(piece, units)))
    return out


class _Found(NamedTuple):
    credit: dict[int, float]  # unit -> share of it found (1 = whole)
    where: list[tuple[int, int, int]]  # (first token, end token, unit)


@dataclass
class _Match:
    coverage: float  # share of the concept the sentence and the title cover together
    sentence: str
    span: tuple[int, int]  # characters of ``sentence``
    own: float  # share the sentence covers alone
    gate: bool  # passes what "mainly" / "a new" ask for
    claim: bool  # the sentence presents the paper's own work ("we present ...")
    strength: float  # coverage + DENSE_WEIGHT * cosine, once embedded


def _span(text: _Text, where: list[tuple[int, int, int]], w: Sequence[float]) -> tuple[int, int]:
    """The shortest stretch holding the most of the concept's weight (a unit found twice
    counts once), in characters; a parenthesis it opens is closed."""
    spots = sorted(set(where))
    best = (0.0, 0, spots[0][0], spots[0][1])  # (-weight, length, first token, end token)
    for a, (s, _, _) in enumerate(spots):
        end, seen = s, set()
        for s2, e2, u in spots[a:]:
            if s2 - end > MAX_GAP:
                break
            seen.add(u)
            end = max(end, e2)
            best = min(best, (-round(sum(w[x] for x in seen), 6), end - s, s, end))
    start, stop, t = text.spans[best[2]][0], text.spans[best[3] - 1][1], text.text
    if t.count("(", start, stop) > t.count(")", start, stop) and t[stop : stop + 1] == ")":
        stop += 1
    return start, stop


def _claim_before(text: _Text, at: int, reach: int) -> bool:
    """A "we introduce" / "our ... released" within ``reach`` tokens before token ``at``."""
    s = text.stems
    verbs = [j for j in range(max(0, at - reach), at) if s[j] in _CLAIM]
    return any(_SUBJECT.intersection(s[max(0, j - 3) : j]) for j in verbs)


class _Scorer:
    """One question's concept, weighed against every paper of the store."""

    def __init__(self, concept: str, papers: Sequence[Paper]) -> None:
        self.alts = _alternatives(concept)
        self.strict = bool(_MAIN.search(concept)), bool(_NOVEL.search(concept))
        self.texts = [(_Text(p.title), _sentences(p.abstract)) for p in papers]
        flat = [t for title, sentences in self.texts for t in (title, *sentences)]
        # each concept stem is matched against the store's vocabulary once, so texts are then
        # searched by set lookups (a stem under five letters only ever matches itself)
        buckets: dict[str, set[str]] = {}
        for s in {s for t in flat for s in t.index}:
            buckets.setdefault(s[:5], set()).add(s)
        parts = {p for alt in self.alts for unit in alt.units for p in unit.parts}
        self.forms = {p: {v for v in buckets.get(p[:5], ()) if _same(p, v)} | {p} for p in parts}
        self.acronyms: set[str] = set()
        self._learn_acronyms(flat)
        self.found = [  # [paper][alternative] -> (in the title, [in each sentence])
            [(self._find(a, title), [self._find(a, s) for s in sentences]) for a in self.alts]
            for title, sentences in self.texts
        ]
        # inverse document frequency: a word most papers use ("data") weighs little, one no
        # paper uses weighs fully, so a concept the store never mentions cannot match
        self.weights = []
        for k, alt in enumerate(self.alts):
            df = [0] * len(alt.units)
            for title, sentences in (paper[k] for paper in self.found):
                for u in {u for f in (title, *sentences) for u, c in f.credit.items() if c == 1}:
                    df[u] += 1
            self.weights.append([math.log((len(papers) + 1) / (d + 0.5)) for d in df])

    def _occurrences(self, unit: _Unit, text: _Text) -> list[tuple[int, int]]:
        forms, s = [self.forms[p] for p in unit.parts], text.stems
        starts = sorted(i for v in forms[0] for i in text.index.get(v, ()))
        ok = [i for i in starts if all(j < len(s) and s[j] in f for j, f in enumerate(forms, i))]
        return [(i, i + len(forms)) for i in ok]

    def _acronym_at(self, alt: _Alternative, text: _Text, i: int) -> str | None:
        key = text.text[text.spans[i][0] : text.spans[i][1]].lower()
        key = key[:-1] if key not in alt.acronyms and key.endswith("s") else key  # RAGs
        return key if key in alt.acronyms else None

    def _learn_acronyms(self, texts: Sequence[_Text]) -> None:
        """Acronyms some text writes right after what they abbreviate ("Mixture-of-Experts
        (MoE)"): "GPT" is not "general-purpose text" just because the initials agree."""
        for alt, text, i in ((a, t, i) for a in self.alts for t in texts for i in t.caps):
            key = self._acronym_at(alt, text, i)
            if key is None or key in self.acronyms:
                continue
            spots = [self._occurrences(alt.units[u], text) for u in alt.acronyms[key]]
            if all(any(i - ACRONYM_WINDOW <= s and e <= i for s, e in occ) for occ in spots):
                self.acronyms.add(key)

    def _find(self, alt: _Alternative, text: _Text) -> _Found:
        found = _Found({}, [])
        for u, unit in enumerate(alt.units):
            occ, credit = self._occurrences(unit, text), 1.0
            if not occ and len(unit.parts) > 1:  # part of a compound: "generalized text"
                content = [p for p in unit.parts if p not in STOPWORDS]
                at = {p: [i for v in self.forms[p] for i in text.index.get(v, ())] for p in content}
                occ = [(i, i + 1) for spots in at.values() for i in spots]
                credit = PARTIAL * sum(1 for spots in at.values() if spots) / max(1, len(content))
            if occ:
                found.credit[u] = credit
                found.where.extend((s, e, u) for s, e in occ)
        for i in text.caps:
            key = self._acronym_at(alt, text, i)
            for u in alt.acronyms[key] if key in self.acronyms else ():
                found.credit[u] = 1.0
                found.where.append((i, i + 1, u))
        return found

    def score(self, i: int) -> list[_Match]:
        """Paper ``i``'s best sentences: most concept covered, by its own words, as a claim."""
        ranked: dict[str, tuple[tuple[bool, float, float, bool], _Match]] = {}
        for k, w in enumerate(self.weights):
            total = sum(w) or 1.0
            title, found = self.found[i][k]
            title_cov = sum(w[u] * c for u, c in title.credit.items()) / total
            for text, f in zip(self.texts[i][1], found, strict=True):
                if not f.credit:
                    continue
                own = sum(w[u] * c for u, c in f.credit.items()) / total
                both = sum(
                    w[u] * max(f.credit.get(u, 0), title.credit.get(u, 0)) for u in range(len(w))
                )
                claim = _claim_before(text, len(text.stems), len(text.stems))
                gate = self._gate(title_cov, own, text, f)
                span = _span(text, f.where, w)
                m = _Match(both / total, text.text, span, own, gate, claim, both / total)
                key = (gate, m.coverage, own, claim)
                if text.text not in ranked or key > ranked[text.text][0]:
                    ranked[text.text] = (key, m)
        best = sorted(ranked.values(), key=lambda km: km[0], reverse=True)
        return [m for _, m in best[:SENTENCES_PER_PAPER]]

    def _gate(self, title_cov: float, own: float, text: _Text, found: _Found) -> bool:
        """For "mainly about X": X in the title or presented as the paper's own (and called new
        for "a new X"); for "a new X": in the title, presented, or called new. Else: any."""
        main, novel = self.strict
        if not (main or novel) or title_cov >= MIN_COVERAGE:
            return True
        if own < MIN_COVERAGE:
            return False
        starts = {s for s, _, _ in found.where}
        claim = any(_claim_before(text, s, CLAIM_REACH) for s in starts)
        fresh = any(x in _FRESH for s in starts for x in text.stems[max(0, s - 3) : s])
        return claim and (fresh or not novel) if main else claim or fresh


def match_papers(question: str, retriever: Retriever) -> list[tuple[Paper, _Match]]:
    """Every paper matching ``question``'s concept with its best sentence, strongest first."""
    concept = concept_of(question)
    papers = retriever.store.papers()
    scorer = _Scorer(concept, papers)
    candidates = []
    for i, p in enumerate(papers):
        if ms := [m for m in scorer.score(i) if m.gate and m.coverage >= MIN_COVERAGE]:
            candidates.append((p, ms))
    # the embedder, for the lexically strongest papers only (its cost grows with the list),
    # compares with the concept from its first word on ("dataset", not "are mainly about ...")
    candidates.sort(key=lambda pm: -pm[1][0].coverage)
    probe = concept[concept.find(scorer.alts[0].units[0].text) :] if scorer.alts else concept
    if embedded := [m for _, ms in candidates[:MAX_EMBEDDED] for m in ms]:
        embedder = retriever.embedder
        if not isinstance(embedder, grounding.CachingEmbedder):  # each sentence embedded once
            embedder = grounding.CachingEmbedder(embedder)
        vectors = embedder.embed([probe, *(m.sentence for m in embedded)])
        for m, sim in zip(embedded, np.asarray(vectors[1:] @ vectors[0]), strict=True):
            m.strength = m.coverage + DENSE_WEIGHT * float(sim)
    kept = []
    for p, ms in candidates:
        # quote the sentence with most of the concept in its own words (for "mainly about" or
        # "a new X", one presenting it); the paper is as strong as its strongest sentence
        best = max(ms, key=lambda m: (m.claim and any(scorer.strict), m.own, m.strength))
        best.strength = max(m.strength for m in ms)
        if best.strength >= THRESHOLD:
            kept.append((p, best))
    kept.sort(key=lambda pm: (-pm[1].strength, pm[0].title))
    return kept


def list_papers(
    question: str, *, retriever: Retriever, config: AnswerConfig, cap: int = 8
) -> Answer:
    """The papers matching a "which papers ...?" question, strongest first: at most ``cap``
    cited, the rest counted in ``more``. Abstains when none matches."""
    t0 = time.perf_counter()
    kept = match_papers(question, retriever)
    timings = {"listing": round(time.perf_counter() - t0, 4)}
    chunks = retriever.store.all_chunks() if kept else []
    citations = []
    for marker, (paper, m) in enumerate(kept[:cap], start=1):
        own = [c for c in chunks if c.paper_id == paper.paper_id]
        hit = next((c for c in own if m.sentence[:40] in c.text), own[0] if own else None)
        citations.append(
            Citation(
                marker=marker,
                paper_id=paper.paper_id,
                title=paper.title,
                chunk_id=hit.chunk_id if hit else "",
                quote=m.sentence,
                span=m.sentence[m.span[0] : m.span[1]],
                span_start=m.span[0],
                strength=round(m.strength, 4),
                url=paper.url,
                published=paper.published.isoformat() if paper.published else None,
                authors=hit.authors if hit else None,
            )
        )
    timings["total"] = round(time.perf_counter() - t0, 4)
    n = len(kept)
    refs = [RetrievedRef(paper_id=p.paper_id, title=p.title, score=m.strength) for p, m in kept]
    return Answer(
        question=question,
        answer=(f"{n} paper matches:" if n == 1 else f"{n} papers match:") if n else ABSTAIN,
        abstained=not kept,
        kind="list" if kept else "abstain",
        citations=citations,
        more=max(0, n - cap),
        retrieved=refs,
        provenance=config.provenance,
        timings=timings,
    )
