"""Gathering the evidence an answer leads with, for one question or each part of a compound one.

"How many languages does xP3 span, and across how many task families was UDR tested?" asks
two things about two papers; answered as one question, retrieval and the ranker favour one of
them. So a compound question is split into its parts (:func:`assistant.evidence.sub_questions`);
each part retrieves its own papers, is ranked and judged answerable on its own, and the answer
leads with the best sentence of each answerable part. A single question leads with its best
sentence, plus the best of each other paper when it compares papers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant import evidence
from assistant.injection import sanitize_source
from assistant.retrieve import Retrieval, Retriever
from assistant.types import Hit

MULTI_LEAD_FLOOR = 0.05  # a second paper's best sentence leads only when this likely to answer
SECOND_LEAD_RATIO = 0.2  # a second sentence of the lead paper leads at this share of its score
_COMPARE = re.compile(
    r"\b(compare|compared|comparison|both|each|versus|vs\.?|two papers|three papers|"
    r"difference between|differ)\b",
    re.IGNORECASE,
)


@dataclass
class Evidence:
    hits: list[Hit]  # what the prompt is built from, best first
    abstracts: dict[str, str]  # paper_id -> sanitised abstract
    leads: list[evidence.Candidate] = field(default_factory=list)
    probability: float = 0.0
    answerable: bool = False


def evidence_sources(
    hits: Sequence[Hit], abstracts: dict[str, str], named: set[str]
) -> list[evidence.Source]:
    sources = [
        evidence.Source(
            key=rank + 1,
            paper_id=h.paper_id,
            title=h.title,
            abstract=abstracts[h.paper_id] or h.text,
            rank=rank,
            named=h.paper_id in named,
        )
        for rank, h in enumerate(hits)
    ]
    # A question naming a paper ("How many parameters does In-BoXBART have?") is answered by
    # that paper's abstract, not by a neighbour that happens to state a parameter count.
    return [s for s in sources if s.named] or sources


def leads_for(
    question: str, ranked: Sequence[evidence.Candidate], sources: Sequence[evidence.Source]
) -> list[evidence.Candidate]:
    """The best sentence, and for a question comparing papers (naming two, or "compare") the
    best of each other paper too, when likely enough; otherwise a second sentence of the same
    paper when it is nearly as likely to answer (the answer often spans two sentences)."""
    if not ranked:
        return []
    top = ranked[0]
    leads = [top]
    if sum(s.named for s in sources) >= 2 or _COMPARE.search(question):
        seen = {top.source.paper_id}
        for c in ranked[1:]:
            if c.source.paper_id not in seen and c.score >= MULTI_LEAD_FLOOR:
                leads.append(c)
                seen.add(c.source.paper_id)
        return leads
    for c in ranked[1:3]:
        if c.source.key == top.source.key and c.score >= SECOND_LEAD_RATIO * top.score:
            leads.append(c)
            break
    return leads


def paper_abstracts(
    retriever: Retriever, hits: Sequence[Hit], known: dict[str, str] | None = None
) -> dict[str, str]:
    """``known`` extended with the sanitised abstract of every paper in ``hits``."""
    known = {} if known is None else known
    for h in hits:
        if h.paper_id not in known:
            paper = retriever.store.get_paper(h.paper_id)
            # Abstracts are data: planted instructions never reach the model or count as evidence.
            known[h.paper_id] = sanitize_source(paper.abstract if paper else "")
    return known


def gather(query: str, retrieval: Retrieval, retriever: Retriever) -> Evidence:
    hits = [h.model_copy(update={"text": sanitize_source(h.text)}) for h in retrieval.hits]
    abstracts = paper_abstracts(retriever, hits)
    parts = evidence.sub_questions(query)
    if len(parts) == 1:
        sources = evidence_sources(hits, abstracts, set(retrieval.named))
        ranked = evidence.rank_sentences(query, sources, retriever.embedder)
        decision = evidence.decide(query, ranked, sources)
        return Evidence(
            hits,
            abstracts,
            leads_for(query, ranked, sources) if decision.answerable else [],
            decision.probability,
            decision.answerable,
        )
    out = Evidence(hits, abstracts)
    for part in parts:
        sub = retriever.search(part)
        if sub.gated or not sub.hits:
            continue
        extra = [h.model_copy(update={"text": sanitize_source(h.text)}) for h in sub.hits]
        paper_abstracts(retriever, extra, abstracts)
        known = {h.paper_id for h in out.hits}
        out.hits += [h for h in extra if h.paper_id not in known]
        sources = evidence_sources(extra, abstracts, set(sub.named))
        ranked = evidence.rank_sentences(part, sources, retriever.embedder)
        decision = evidence.decide(part, ranked, sources)
        out.probability = max(out.probability, decision.probability)
        if decision.answerable and ranked[0].sentence not in {c.sentence for c in out.leads}:
            out.answerable = True
            out.leads.append(ranked[0])
    return out
