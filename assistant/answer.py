"""Question -> retrieve -> prompt -> generate -> verify -> Answer.

The model's text is never trusted. Sentences are verified as they stream (so what the user sees
has already been checked); an unsupported sentence is replaced by the verbatim source sentence
that best answers the question, or dropped. With no relevant evidence the model is not called.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from assistant import grounding
from assistant.config import AnswerConfig
from assistant.context import SourceBlock, build_prompt, evidence_sentence, sufficient_evidence
from assistant.injection import sanitize_source
from assistant.protocols import ChatModel, Embedder, Message
from assistant.retrieve import Retriever
from assistant.rewrite import standalone_question
from assistant.types import Answer, Citation, Hit, RetrievedRef, SentenceCheck

ABSTAIN = "I can't answer that from the indexed abstracts."
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
    """Checks each finished sentence against the sources the model saw."""

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
        # Each source sentence is embedded once per answer, not once per checked sentence.
        if embedder is not None and not isinstance(embedder, grounding.CachingEmbedder):
            embedder = grounding.CachingEmbedder(embedder)
        self.embedder = embedder
        self.threshold = threshold
        self.on_sentence = on_sentence
        self.checks: list[SentenceCheck] = []
        self.shown: list[str] = []
        self.used: dict[int, str] = {}  # marker -> quote
        self.seen_quotes: set[str] = set()

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

    def _one(self, v: grounding.SentenceVerdict) -> None:
        clean, cites, support = v.clean, v.cites, v.support
        valid = [c for c in cites if c in self.blocks]
        marker = valid[0] if valid else self._marker_of(v.best_source_id)
        shown = clean.rstrip() + (f" [{marker}]" if marker else "")
        if support.supported and self._holds(shown):
            if not self.used.get(marker):
                best = support.best_sentence
                self.used[marker] = best if best in self.blocks[marker].abstract else ""
            self._emit(shown)
            self.checks.append(
                SentenceCheck(
                    text=shown, supported=True, support=round(support.score, 4), cites=[marker]
                )
            )
            return
        replacement = self._replacement(valid)
        self.checks.append(
            SentenceCheck(
                text=clean,
                supported=False,
                support=round(support.score, 4),
                cites=list(cites),
                reason=support.reason or "not supported by the cited sources",
                replaced_by_quote=replacement is not None,
            )
        )
        if replacement is not None:
            marker, quote = replacement
            self.used[marker] = quote
            self._emit(f'"{quote}" [{marker}]')

    def _holds(self, shown: str) -> bool:
        verdicts = grounding.check_sentences(
            shown, self.full, embedder=self.embedder, threshold=self.threshold
        )
        return bool(verdicts) and all(v.supported for v in verdicts)

    def _marker_of(self, key: int | None) -> int:
        return key if key is not None and key in self.blocks else next(iter(self.blocks))

    def _replacement(self, cites: Sequence[int]) -> tuple[int, str] | None:
        """The verbatim sentence that best answers the question, if it carries real evidence."""
        candidates = list(cites) or list(self.blocks)
        best: tuple[float, int, str] | None = None
        for m in candidates:
            score, quote = evidence_sentence(
                self.question, self.blocks[m].abstract, self.blocks[m].title
            )
            if not quote or quote in self.seen_quotes:
                continue
            if score > 0 and (best is None or score > best[0]):
                best = (score, m, quote)
        if best is None or not self._holds(f'"{best[2]}" [{best[1]}]'):
            return None
        self.seen_quotes.add(best[2])
        return best[1], best[2]

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
    retrieval = retriever.search(query)
    timings.update(retrieval.timings)
    if retrieval.gated or not retrieval.hits:
        timings["total"] = time.perf_counter() - t_start
        return _abstain(question, standalone, retrieval.near, timings, cfg)
    hits = retrieval.hits
    t = time.perf_counter()
    papers = {h.paper_id: retriever.store.get_paper(h.paper_id) for h in hits}
    # Abstracts are data: planted instructions never reach the model or count as evidence.
    abstracts = {pid: sanitize_source(p.abstract if p else "") for pid, p in papers.items()}
    hits = [h.model_copy(update={"text": sanitize_source(h.text)}) for h in hits]
    # A question naming a paper ("How many parameters does In-BoXBART have?") is answered by
    # that paper's abstract, not by a neighbour that happens to state a parameter count.
    evidence = [h for h in hits if h.paper_id in retrieval.named] or hits
    if (
        sufficient_evidence(
            query, [abstracts[h.paper_id] for h in evidence], [h.title for h in evidence]
        )
        <= 0
    ):
        timings["total"] = time.perf_counter() - t_start
        return _abstain(question, standalone, hits, timings, cfg)
    messages, blocks, dropped = build_prompt(
        query, hits, abstracts, llm=llm, max_tokens=cfg.max_tokens
    )
    timings["prompt_build"] = time.perf_counter() - t
    if not blocks:  # no source fits the context window: the model would have nothing to cite
        timings["total"] = time.perf_counter() - t_start
        out = _abstain(question, standalone, hits, timings, cfg)
        out.dropped_sources = dropped
        return out
    verifier = _Verifier(query, blocks, retriever.embedder, cfg.support_threshold, on_sentence)
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
    model_abstained = ABSTAIN.lower()[:20] in gen.text.lower()
    if model_abstained and not any(c.supported for c in verifier.checks):
        timings["verify"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        out = _abstain(question, standalone, hits, timings, cfg)
        out.raw_model_text = gen.text
        return out
    if not verifier.shown:
        # Nothing the model wrote held up; fall back to the best verbatim evidence, if any.
        replacement = verifier._replacement([])
        if replacement is not None:
            verifier.used[replacement[0]] = replacement[1]
            verifier._emit(f'"{replacement[1]}" [{replacement[0]}]')
    timings["verify"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    if not verifier.shown:
        out = _abstain(question, standalone, hits, timings, cfg)
        out.sentences = verifier.checks
        out.raw_model_text = gen.text
        return out
    citations = _citations(query, verifier, blocks)
    return Answer(
        question=question,
        standalone_question=standalone,
        answer=" ".join(verifier.shown),
        abstained=False,
        citations=citations,
        retrieved=_retrieved(hits),
        sentences=verifier.checks,
        dropped_sources=dropped,
        provenance=cfg.provenance,
        timings={k: round(v, 4) for k, v in timings.items()},
        raw_model_text=gen.text,
    )


def _citations(query: str, verifier: _Verifier, blocks: Sequence[SourceBlock]) -> list[Citation]:
    by_marker = {b.marker: b for b in blocks}
    out = []
    for marker in sorted(verifier.used):
        b = by_marker[marker]
        quote = (
            verifier.used[marker]
            or evidence_sentence(query, b.abstract, b.title)[1]
            or grounding.best_quote(query + " " + " ".join(verifier.shown), b.abstract)
        )
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
            )
        )
    return out
