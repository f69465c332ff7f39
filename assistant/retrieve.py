"""Hybrid retrieval: dense search in Chroma plus BM25 (bm25s), fused by reciprocal rank.

Results are deduplicated per paper (its best chunk represents it) and gated: when the best dense
similarity is under the relevance floor and the query names no paper (a coined title name such
as "M4LE"), nothing is returned, so the caller abstains without calling the model. Chunks whose
paper record is missing (an interrupted ingest) are ignored.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from assistant.config import default
from assistant.protocols import Embedder, VectorStore
from assistant.types import Hit

_TOKEN = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "does",
        "do",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "paper",
        "papers",
        "propose",
        "proposed",
        "about",
        "many",
        "much",
        "use",
        "used",
        "uses",
        "using",
    ]
)


def keyword_tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


_NAME = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
RECHECK_S = 10.0  # how often the keyword index asks the store whether others changed it
MAX_NAME_PAPERS = 2  # a "name" shared by more titles (LLM, RAG) names a topic, not a paper


def _name_like(token: str) -> bool:
    """Coined names (M4LE, HoME, mmSSR, Uni-CoT), not title-case compounds (Multi-Task)."""
    if len(token) < 3:
        return False
    for part in token.split("-"):
        if any(c.isupper() for c in part[1:]):
            return True
        if any(c.isdigit() for c in part) and any(c.isalpha() for c in part):
            return True
    return False


def title_names(title: str) -> set[str]:
    """Tokens of a title that name the paper: coined names, and a one-word lead before ':'."""
    names = {t for t in _NAME.findall(title) if _name_like(t)}
    lead, sep, _ = title.partition(":")
    if sep and len(lead.split()) == 1 and len(lead.strip()) >= 3:
        names.add(lead.strip())
    return names


_TOKEN_RE = r"([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)"
# "we propose Tree-of-Code", "dubbed UniVTG"; "our ... styler (mmSSR)", "we propose a ... (UDR)"
_COINED = (
    re.compile(
        r"\b(?:propose[sd]?|present|introduce|develop|dubbed|called|named|termed)\s+"
        r"(?:an?\s+|the\s+)?" + _TOKEN_RE
    ),
    re.compile(r"\b(?:[Oo]ur|[Ww]e)\b[^()]{0,100}?\(" + _TOKEN_RE + r"\)"),
)


# the field's own acronyms, which an abstract may spell in a proposing sentence
_FIELD_ACRONYMS = frozenset(
    re.findall(
        r"\S+",
        "SOTA SSL SFT RL RLHF LLM LM MLLM VLM LVLM NLP NLU NLG CV COT MOE GPU API MTL RAG QA VQA "
        "IR ICL PEFT LORA GNN CNN RNN MLP",
    )
)


def text_names(text: str) -> set[str]:
    """Names an abstract coins for its own work: a coined name right after "we propose" or
    "dubbed", or in parentheses after "our ..." / "we ..." ("our ... scorers and styler
    (mmSSR)")."""
    return {
        m
        for rx in _COINED
        for m in rx.findall(text)
        if _name_like(m) and m.upper().rstrip("S") not in _FIELD_ACRONYMS
    }


def _paper_names(chunks: Sequence[Hit]) -> dict[str, set[str]]:
    """Coined names (the title's, and those the abstract coins) -> the papers they name,
    keeping only names that few papers mention anywhere (title or text): a generic acronym
    (LLM, RAG) names a topic, not a paper."""
    names: dict[str, set[str]] = {}
    texts: dict[str, list[str]] = {}
    for c in chunks:
        for name in title_names(c.title):
            names.setdefault(name, set()).add(c.paper_id)
        texts.setdefault(c.paper_id, []).append(c.text)
    for paper_id, parts in texts.items():
        for name in text_names(" ".join(parts)):
            names.setdefault(name, set()).add(paper_id)
    mentions: dict[str, set[str]] = {n: set() for n in names}
    for c in chunks:
        for token in set(_NAME.findall(f"{c.title} {c.text}")):
            if token in mentions:
                mentions[token].add(c.paper_id)
    return {n: ids for n, ids in names.items() if len(mentions[n]) <= MAX_NAME_PAPERS}


def named_papers(query: str, names: dict[str, set[str]]) -> set[str]:
    """Papers whose coined name the query spells exactly (case-sensitive)."""
    found: set[str] = set()
    for token in _NAME.findall(query):
        ids = names.get(token, set())
        if 0 < len(ids) <= MAX_NAME_PAPERS:
            found |= ids
    return found


class Retrieval(BaseModel):
    hits: list[Hit] = Field(default_factory=list)
    near: list[Hit] = Field(default_factory=list)  # closest papers when gated
    best_dense: float = 0.0
    gated: bool = False  # True when the relevance floor rejected everything
    named: list[str] = Field(default_factory=list)  # papers the query names by coined name
    timings: dict[str, float] = Field(default_factory=dict)


class _KeywordIndex:
    def __init__(self, chunks: Sequence[Hit]) -> None:
        import bm25s

        self.chunks = list(chunks)
        self.papers = {c.paper_id for c in chunks}
        self.names = _paper_names(self.chunks)
        self._bm25: Any = None
        corpus = [keyword_tokens(f"{c.title} {c.text}") for c in self.chunks]
        if self.chunks:
            self._bm25 = bm25s.BM25(backend="numpy", csc_backend="numpy")
            self._bm25.index(corpus, show_progress=False)

    def search(self, query: str, n: int) -> list[tuple[Hit, float]]:
        tokens = keyword_tokens(query)
        if self._bm25 is None or not tokens:
            return []
        k = min(n, len(self.chunks))
        docs, scores = self._bm25.retrieve([tokens], k=k, show_progress=False)
        out = []
        for idx, score in zip(docs[0], scores[0], strict=True):
            if float(score) > 0:
                out.append((self.chunks[int(idx)], float(score)))
        return out


class Retriever:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        top_k: int = default("top_k"),
        candidates: int = default("candidates"),
        rrf_k: int = default("rrf_k"),
        relevance_floor: float = default("relevance_floor"),
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.relevance_floor = relevance_floor
        self._index: _KeywordIndex | None = None
        self._index_key: tuple[int, int] | None = None
        self._index_generation = -1
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def _keyword_index(self) -> _KeywordIndex:
        # Writes through this store bump its generation. Counting chunks and papers in Chroma
        # costs ~30 ms at 100k chunks, so that check (for writes from elsewhere) runs only
        # every RECHECK_S seconds, not on every query.
        with self._lock:
            now = time.monotonic()
            generation = self.store.generation
            stale = self._index is None or generation != self._index_generation
            if stale or now - self._checked_at > RECHECK_S:
                key = (self.store.count_chunks(), self.store.count_papers())
                if stale or key != self._index_key:
                    self._index = _KeywordIndex(self.store.all_chunks())
                    self._index_key = key
                    self._index_generation = generation
                self._checked_at = now
            assert self._index is not None
            return self._index

    def prepare(self) -> None:
        """Build the keyword index now (the first search would), e.g. in a background thread
        while the caller does something else."""
        self._keyword_index()

    def invalidate(self) -> None:
        with self._lock:
            self._index = None

    def search(self, query: str, *, top_k: int | None = None) -> Retrieval:
        k = top_k or self.top_k
        t0 = time.perf_counter()
        vector = self.embedder.embed([query])[0]
        t1 = time.perf_counter()
        # dense first: the keyword index may still be building in a preload thread
        nearest = self.store.query(vector, self.candidates)
        index = self._keyword_index()
        dense = [h for h in nearest if h.paper_id in index.papers]
        keyword = index.search(query, self.candidates)
        t2 = time.perf_counter()
        timings = {"embed": t1 - t0, "retrieve": t2 - t1}
        best = max((h.dense or 0.0 for h in dense), default=0.0)
        # A question that spells a paper's coined name ("M4LE") is about that paper even when
        # its paraphrased wording embeds far from the abstract; whether the abstract answers it
        # is then the evidence check's call, not the floor's.
        named = named_papers(query, index.names)
        if best < self.relevance_floor and not named:
            # Nothing is relevant enough to answer from; the closest papers are still offered
            # as "you may mean" suggestions (never as citations).
            near: dict[str, Hit] = {}
            for h in dense:
                near.setdefault(h.paper_id, h)
            return Retrieval(
                hits=[], near=list(near.values())[:3], best_dense=best, gated=True, timings=timings
            )
        hits = self._fuse(dense, keyword, k, named)
        return Retrieval(hits=hits, best_dense=best, named=sorted(named), timings=timings)

    def _fuse(
        self, dense: list[Hit], keyword: list[tuple[Hit, float]], k: int, named: set[str]
    ) -> list[Hit]:
        scores: dict[str, float] = {}
        by_id: dict[str, Hit] = {}
        for rank, h in enumerate(dense):
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
            by_id[h.chunk_id] = h
        for rank, (h, s) in enumerate(keyword):
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
            known = by_id.get(h.chunk_id)
            by_id[h.chunk_id] = (known or h).model_copy(update={"bm25": s})
        paper_dense: dict[str, float] = {}
        for h in dense:
            paper_dense[h.paper_id] = max(paper_dense.get(h.paper_id, -1.0), h.dense or -1.0)
        # A paper that dense search ranks far below the floor needs a strong keyword match.
        top_kw = keyword[0][1] if keyword else 0.0
        best: dict[str, Hit] = {}
        for cid in sorted(scores, key=lambda c: -scores[c]):
            h = by_id[cid]
            if h.paper_id in best:
                continue
            pd = paper_dense.get(h.paper_id, -1.0)
            strong_kw = h.bm25 is not None and top_kw > 0 and h.bm25 >= 0.6 * top_kw
            if pd < self.relevance_floor - 0.1 and not strong_kw and h.paper_id not in named:
                continue
            best[h.paper_id] = h.model_copy(
                update={"score": round(scores[cid], 6), "dense": pd if pd > -1 else h.dense}
            )
            if len(best) >= k:
                break
        return list(best.values())
