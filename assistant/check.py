"""Check any text against indexed papers, sentence by sentence: the judge that gates answers and
TL;DRs, offered on its own (`assistant check`), e.g. for a summary written by another tool.

With papers named, every sentence is judged against those papers' titles and abstracts. With
none, each sentence is judged against the papers retrieval finds for it (the same hybrid
search questions use); a sentence no indexed paper is about is unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from assistant import grounding
from assistant.protocols import Embedder
from assistant.retrieve import Retriever
from assistant.types import Paper

__all__ = ["CheckReport", "CheckedSentence", "check_text"]

_MARKERS = re.compile(r"\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]")


class CheckedSentence(BaseModel):
    sentence: str
    supported: bool
    score: float
    reason: str = ""  # "" when supported
    paper_id: str | None = None  # the paper whose sentence is the evidence
    title: str | None = None
    evidence: str = ""  # the evidence sentence, verbatim


class CheckReport(BaseModel):
    sentences: list[CheckedSentence] = Field(default_factory=list)
    papers: list[str] = Field(default_factory=list)  # ids checked against ([] = retrieved)

    @property
    def supported(self) -> int:
        return sum(s.supported for s in self.sentences)

    @property
    def unsupported(self) -> int:
        return len(self.sentences) - self.supported


def _judge(
    sentence: str, papers: Sequence[Paper], embedder: Embedder | None, threshold: float
) -> CheckedSentence:
    sources = {i + 1: p.title + "\n\n" + p.abstract for i, p in enumerate(papers)}
    verdicts = grounding.check_sentences(sentence, sources, embedder=embedder, threshold=threshold)
    if not verdicts:
        return CheckedSentence(sentence=sentence, supported=False, score=0.0, reason="no words")
    # a unit the splitter kept whole: the weakest part decides
    v = min(verdicts, key=lambda x: (x.supported, x.support.score))
    paper = papers[v.best_source_id - 1] if v.best_source_id else None
    return CheckedSentence(
        sentence=sentence,
        supported=all(x.supported for x in verdicts),
        score=round(v.support.score, 4),
        reason=v.support.reason,
        paper_id=paper.paper_id if paper else None,
        title=paper.title if paper else None,
        evidence=v.support.best_sentence,
    )


def check_text(
    text: str,
    *,
    papers: Sequence[Paper] = (),
    retriever: Retriever | None = None,
    embedder: Embedder | None = None,
    threshold: float = grounding.DEFAULT_THRESHOLD,
) -> CheckReport:
    """Judge each sentence of ``text`` against ``papers``, or (none given) against the papers
    ``retriever`` finds for it. Citation markers in ``text`` are ignored."""
    report = CheckReport(papers=[p.paper_id for p in papers])
    for sentence in grounding.split_sentences(_MARKERS.sub(" ", text)):
        if not re.search(r"[A-Za-z0-9]", sentence):
            continue
        candidates = list(papers)
        if not candidates and retriever is not None:
            found = retriever.search(sentence)
            ids = list(dict.fromkeys(h.paper_id for h in found.hits))
            candidates = [p for i in ids if (p := retriever.store.get_paper(i)) is not None]
        if not candidates:
            report.sentences.append(
                CheckedSentence(
                    sentence=sentence,
                    supported=False,
                    score=0.0,
                    reason="no indexed paper is about this",
                )
            )
            continue
        report.sentences.append(_judge(sentence, candidates, embedder, threshold))
    return report
