"""The vocabulary shared by every module: papers, chunks, hits, answers, TL;DRs."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def content_hash(title: str, abstract: str) -> str:
    """Stable hash of what a paper says; an edit to title or abstract changes it."""
    data = (title.strip() + "\n" + abstract.strip()).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:16]


def slugify(text: str, max_len: int = 48) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", norm.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "paper"


def make_paper_id(title: str, arxiv_id: str | None = None) -> str:
    """The arXiv id when known; otherwise a readable slug plus a short hash of the title.

    The hash is of the title only, so editing an abstract keeps the id (and replaces chunks).
    """
    if arxiv_id:
        return arxiv_id
    digest = hashlib.sha256(" ".join(title.lower().split()).encode("utf-8")).hexdigest()[:8]
    return f"{slugify(title)}-{digest}"


class Paper(BaseModel):
    model_config = ConfigDict(frozen=True)

    paper_id: str
    title: str
    abstract: str
    authors: list[str] = Field(default_factory=list)
    n_authors: int | None = None
    published: date | None = None
    url: str | None = None
    source: str = ""
    content_hash: str = ""

    @classmethod
    def build(
        cls,
        *,
        title: str,
        abstract: str,
        arxiv_id: str | None = None,
        authors: list[str] | None = None,
        n_authors: int | None = None,
        published: date | None = None,
        url: str | None = None,
        source: str = "",
    ) -> Paper:
        title = " ".join(title.split())
        abstract = abstract.strip()
        names = [a.strip() for a in (authors or []) if a.strip()]
        # Only web links survive: a javascript: or data: "url" in a record is dropped here.
        if url is not None and not re.match(r"https?://[^\s<>\"']+$", url.strip(), re.IGNORECASE):
            url = None
        return cls(
            paper_id=make_paper_id(title, arxiv_id),
            title=title,
            abstract=abstract,
            authors=names,
            n_authors=n_authors if n_authors is not None else (len(names) or None),
            published=published,
            url=url,
            source=source,
            content_hash=content_hash(title, abstract),
        )


class Rejection(BaseModel):
    """One record that could not be used, with where it was and why."""

    file: str
    record: int | None = None  # 1-based line or record number, when known
    reason: str


class ParseResult(BaseModel):
    papers: list[Paper] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    format: str = ""


class Chunk(BaseModel):
    chunk_id: str
    paper_id: str
    index: int
    text: str
    start: int  # character span in the abstract
    end: int
    title: str

    @property
    def embed_text(self) -> str:
        # The title carries the topic; chunks without it retrieve poorly.
        return f"{self.title}\n{self.text}"


class Hit(BaseModel):
    chunk_id: str
    paper_id: str
    title: str
    text: str
    score: float  # fused score used for ranking
    dense: float | None = None  # cosine similarity, when dense search found it
    bm25: float | None = None
    published: str | None = None
    url: str | None = None
    authors: str | None = None


class Citation(BaseModel):
    marker: int
    paper_id: str
    title: str
    chunk_id: str
    quote: str
    url: str | None = None
    published: str | None = None
    authors: str | None = None
    # The part of ``quote`` that answers the question (a number with its unit, a name), and
    # where it starts in ``quote``; empty / None when no span could be marked.
    span: str = ""
    span_start: int | None = None
    # How strongly this paper's evidence answers the question (list answers are ordered by it).
    strength: float | None = None


class SentenceCheck(BaseModel):
    text: str
    supported: bool
    support: float
    cites: list[int] = Field(default_factory=list)
    reason: str = ""
    # "model": a sentence the model wrote (shown when supported); "quote": verbatim evidence
    # the answer leads with
    origin: Literal["model", "quote"] = "model"


class RetrievedRef(BaseModel):
    paper_id: str
    title: str
    score: float


AnswerKind = Literal["answer", "list", "abstain"]
ABSTAIN = "I can't answer that from the indexed abstracts."  # what an abstaining answer says


class Answer(BaseModel):
    question: str
    standalone_question: str | None = None
    answer: str
    abstained: bool
    # "answer": sentences citing sources; "list": one citation per matching paper ("which
    # papers ...?"), strongest first, ``more`` left out after the cap; "abstain": nothing shown.
    kind: AnswerKind = "answer"
    more: int = 0
    answerability: float | None = None  # the answerability scorer's probability, when run
    citations: list[Citation] = Field(default_factory=list)
    retrieved: list[RetrievedRef] = Field(default_factory=list)
    sentences: list[SentenceCheck] = Field(default_factory=list)
    dropped_sources: list[str] = Field(default_factory=list)
    provenance: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    raw_model_text: str = ""


class Tldr(BaseModel):
    paper_id: str
    title: str
    tldr: str
    method: Literal["generated", "extractive"]
    support: float
    words: int
    provenance: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0


class IngestReport(BaseModel):
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)
    chunks_written: int = 0
    seconds: float = 0.0
    files: list[str] = Field(default_factory=list)

    @property
    def ingested(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged)
