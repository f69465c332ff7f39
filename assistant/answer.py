"""Question -> retrieve -> evidence -> prompt -> generate -> verify -> Answer.

Extractive first: the abstract sentence that best answers the question (:mod:`assistant.evidence`)
leads the answer, verbatim, with the answering span marked on its citation — one per paper for a
question about several papers. The model's text is never trusted: its sentences are verified as
they stream and shown only when the judge supports them, they address the question and they add
something to the quoted evidence; otherwise they are dropped. When the answerability scorer says
the retrieved abstracts do not answer the question, the model is not called. "Which papers ...?"
questions get a list over the whole library (:mod:`assistant.listing`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from assistant import evidence, grounding, listing
from assistant.config import AnswerConfig
from assistant.context import SourceBlock, build_prompt
from assistant.evidence.relevance import relevance_issue
from assistant.gather import gather
from assistant.protocols import ChatModel, Embedder, Message
from assistant.retrieve import Retriever
from assistant.rewrite import standalone_question
from assistant.types import ABSTAIN, Answer, Citation, Hit, RetrievedRef, SentenceCheck

SentenceFn = Callable[[str], None]
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")


def _retrieved(hits: Sequence[Hit]) -> list[RetrievedRef]:
    return [RetrievedRef(paper_id=h.paper_id, title=h.title, score=round(h.score, 6)) for h in hits]


def _abstain(
    question: str,
    standalone: str | None,
    near: Sequence[Hit],
    timings: dict[str, float],
    cfg: AnswerConfig,
) -> Answer:
    return Answer(
        question=question,
        standalone_question=standalone,
        answer=ABSTAIN,
        abstained=True,
        kind="abstain",
        retrieved=_retrieved(near),
        provenance=cfg.provenance,
        timings={k: round(v, 4) for k, v in timings.items()},
    )


class _Verifier:
    """Checks each finished model sentence against the sources the model saw."""

    def __init__(
        self,
        question: str,
        blocks: Sequence[SourceBlock],
        embedder: Embedder | None,
        threshold: float,
        on_sentence: SentenceFn | None,
    ) -> None:
        self.question = question
        self.blocks = {b.marker: b for b in blocks}
        # Shown text must also hold against each cited paper's whole title + abstract: the
        # same check, on the same text, that the evals apply afterwards.
        self.full = {b.marker: f"{b.title}\n\n{b.abstract}" for b in blocks}
        self.abstracts = [b.abstract for b in blocks]
        # Each source sentence is embedded once per answer, not once per checked sentence.
        if embedder is not None and not isinstance(embedder, grounding.CachingEmbedder):
            embedder = grounding.CachingEmbedder(embedder)
        self.embedder = embedder
        self.threshold = threshold
        self.on_sentence = on_sentence
        self.checks: list[SentenceCheck] = []
        self.shown: list[str] = []
        self.used: dict[int, str] = {}  # marker -> quote
        # marker -> every evidence sentence shown verbatim for it, each cited with its own span
        # (marked for the part of a compound question that it answers)
        self.leads: dict[int, list[evidence.Candidate]] = {}
        self.quoted: set[str] = set()  # evidence sentences already shown verbatim
        titles = [b.title for b in blocks]
        # what a sentence must mention to address the question
        self.asked = evidence.focus_terms(question, titles) | evidence.head_terms(question)

    def lead(self, candidate: evidence.Candidate) -> bool:
        """Show ``candidate`` verbatim when the judge holds it (a quote can still fail: a
        sentence whose subject is "This" means another sentence's thing)."""
        shown = f'"{candidate.sentence}" [{candidate.source.key}]'
        if candidate.sentence in self.quoted or not self._holds(shown):
            return False
        self.used.setdefault(candidate.source.key, candidate.sentence)
        self.leads.setdefault(candidate.source.key, []).append(candidate)
        self.quoted.add(candidate.sentence)
        self._emit(shown)
        self.checks.append(
            SentenceCheck(
                text=shown,
                supported=True,
                support=round(candidate.score, 4),
                cites=[candidate.source.key],
                origin="quote",
            )
        )
        return True

    def feed(self, sentence: str) -> None:
        sentence = grounding.strip_unsafe(sentence).strip()
        if not sentence or ABSTAIN.lower()[:20] in sentence.lower():
            return
        sources = {m: f"{b.title}\n{b.text}" for m, b in self.blocks.items()}
        verdict = grounding.check_sentences(
            sentence, sources, embedder=self.embedder, threshold=self.threshold
        )
        for v in verdict:
            self._one(v)

    def _why_not(self, v: grounding.SentenceVerdict, shown: str) -> str:
        """Empty when the sentence may be shown, else why not."""
        support = v.support
        if not support.supported:
            return support.reason or "not supported by the cited sources"
        if not self._holds(shown):
            return "not supported by the whole cited abstract"
        if support.best_sentence in self.quoted:
            return "repeats the quoted evidence"
        words = grounding.content_words(v.clean)
        if self.asked and not evidence.mentions(self.asked, words):
            return "does not address the question"
        cited = [self.blocks[c].abstract for c in v.cites if c in self.blocks]
        return relevance_issue(v.clean, self.question, cited or self.abstracts)

    def _one(self, v: grounding.SentenceVerdict) -> None:
        valid = [c for c in v.cites if c in self.blocks]
        marker = valid[0] if valid else self._marker_of(v.best_source_id)
        shown = v.clean.rstrip() + (f" [{marker}]" if marker else "")
        why = self._why_not(v, shown)
        if not why:
            best = v.support.best_sentence
            if best in self.blocks[marker].abstract:
                self.used.setdefault(marker, best)
            self._emit(shown)
        self.checks.append(
            SentenceCheck(
                text=shown if not why else v.clean,
                supported=not why,
                support=round(v.support.score, 4),
                cites=[marker] if not why else list(v.cites),
                reason=why,
            )
        )

    def _holds(self, shown: str) -> bool:
        """``shown`` holds against the cited abstracts, read after the sentence shown before
        it (so "It ... [3]" right after a sentence about [1] is caught as the evals catch it)."""
        before = self.shown[-1:]
        verdicts = grounding.check_sentences(
            " ".join([*before, shown]), self.full, embedder=self.embedder, threshold=self.threshold
        )
        mine = verdicts[len(before) :] if len(verdicts) > len(before) else verdicts[-1:]
        return bool(mine) and all(v.supported for v in mine)

    def _marker_of(self, key: int | None) -> int:
        return key if key is not None and key in self.blocks else next(iter(self.blocks))

    def _emit(self, text: str) -> None:
        self.shown.append(text)
        if self.on_sentence:
            self.on_sentence(text)


def answer_question(
    question: str,
    *,
    llm: ChatModel,
    retriever: Retriever,
    history: Sequence[Message] = (),
    config: AnswerConfig | None = None,
    on_sentence: SentenceFn | None = None,
    on_token: Callable[[str], None] | None = None,
) -> Answer:
    cfg = config or AnswerConfig()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    standalone = None
    query = question.strip()
    if history:
        t = time.perf_counter()
        standalone = standalone_question(query, history, llm=llm)
        timings["rewrite"] = time.perf_counter() - t
        query = standalone
    if listing.is_list_question(query):
        listed = listing.list_papers(query, retriever=retriever, config=cfg)
        listed.question = question
        listed.standalone_question = standalone
        return listed
    retrieval = retriever.search(query)
    timings.update(retrieval.timings)
    if retrieval.gated or not retrieval.hits:
        timings["total"] = time.perf_counter() - t_start
        return _abstain(question, standalone, retrieval.near, timings, cfg)
    t = time.perf_counter()
    found = gather(query, retrieval, retriever)
    hits = found.hits
    timings["evidence"] = time.perf_counter() - t
    if not found.answerable:
        timings["total"] = time.perf_counter() - t_start
        out = _abstain(question, standalone, hits, timings, cfg)
        out.answerability = round(found.probability, 4)
        return out
    t = time.perf_counter()
    messages, blocks, dropped = build_prompt(
        query, hits, found.abstracts, llm=llm, max_tokens=cfg.max_tokens
    )
    timings["prompt_build"] = time.perf_counter() - t
    if not blocks:  # no source fits the context window: the model would have nothing to cite
        timings["total"] = time.perf_counter() - t_start
        out = _abstain(question, standalone, hits, timings, cfg)
        out.dropped_sources = dropped
        return out
    # evidence is cited by the marker its paper has in the prompt (a dropped one is not shown)
    marker = {b.hit.paper_id: b.marker for b in blocks}
    verifier = _Verifier(query, blocks, retriever.embedder, cfg.support_threshold, on_sentence)
    for c in found.leads:
        if c.source.paper_id in marker:  # a paper that did not fit the prompt is not cited
            verifier.lead(replace(c, source=replace(c.source, key=marker[c.source.paper_id])))
    buffer: list[str] = []

    def token(piece: str) -> None:
        if on_token:
            on_token(piece)
        buffer.append(piece)
        text = "".join(buffer)
        if _SENTENCE_END.search(text):
            parts = grounding.split_sentences(text)
            if len(parts) > 1:
                for s in parts[:-1]:
                    verifier.feed(s)
                tail = text[text.rfind(parts[-1]) :] if parts[-1] in text else parts[-1]
                buffer[:] = [tail]

    gen = llm.generate(
        messages,
        max_tokens=cfg.max_tokens,
        stop=["\n\n", "Question:", "Sources:"],
        temperature=cfg.temperature,
        seed=cfg.seed,
        on_token=token,
    )
    timings["prefill"] = gen.prefill_s
    timings["generate"] = gen.decode_s
    t = time.perf_counter()
    rest = "".join(buffer).strip()
    if rest:
        for s in grounding.split_sentences(rest):
            verifier.feed(s)
    timings["verify"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    if not verifier.shown:  # the evidence's paper did not fit the prompt and nothing held up
        out = _abstain(question, standalone, hits, timings, cfg)
        out.sentences = verifier.checks
        out.raw_model_text = gen.text
        return out
    return Answer(
        question=question,
        standalone_question=standalone,
        answer=" ".join(verifier.shown),
        abstained=False,
        citations=_citations(query, verifier, blocks),
        retrieved=_retrieved(hits),
        sentences=verifier.checks,
        dropped_sources=dropped,
        provenance=cfg.provenance,
        timings={k: round(v, 4) for k, v in timings.items()},
        raw_model_text=gen.text,
        answerability=round(found.probability, 4),
    )


def _citations(query: str, verifier: _Verifier, blocks: Sequence[SourceBlock]) -> list[Citation]:
    """One citation per quoted evidence sentence (a paper quoted twice is cited twice, each
    quote with its own span: the answering part is often in the second), else per paper."""
    by_marker = {b.marker: b for b in blocks}
    out = []
    for marker in sorted(verifier.used):
        b = by_marker[marker]
        quotes = [(c.sentence, c.span) for c in verifier.leads.get(marker, [])]
        if not quotes:  # cited by a model sentence only: the quote is the sentence it rests on
            quote = verifier.used[marker] or grounding.best_quote(
                query + " " + " ".join(verifier.shown), b.abstract
            )
            quotes = [(quote, evidence.mark_span(query, quote))]
        for quote, span in quotes:
            out.append(
                Citation(
                    marker=marker,
                    paper_id=b.hit.paper_id,
                    title=b.title,
                    chunk_id=b.hit.chunk_id,
                    quote=quote,
                    url=b.hit.url,
                    published=b.hit.published,
                    authors=b.hit.authors,
                    span=quote[span[0] : span[1]] if span else "",
                    span_start=span[0] if span else None,
                )
            )
    return out
