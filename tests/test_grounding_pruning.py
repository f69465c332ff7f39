"""The judge embeds only the source sentences that can still change its verdict.

``grounding.PRUNE`` switches the bound off, so the verdicts of both ways can be compared: they
must be identical, field for field, while the pruned way embeds fewer sentences. Unit tests use
the bag-of-words fake embedder; the integration test repeats the comparison with MiniLM, whose
cosines are the ones the bound is about in production.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from assistant import grounding
from assistant.protocols import Embedder
from assistant.testing import FakeEmbedder
from assistant.types import Paper


class Recording:
    """Wraps an embedder and counts the texts it was asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.texts: list[str] = []

    def embed(self, texts: Any) -> Any:
        self.texts += list(texts)
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def _claims(papers: list[Paper]) -> list[tuple[str, list[str]]]:
    """Sentences of each abstract judged against their own paper, against another paper
    (mostly unsupported), against both, and shortened, TL;DR-like versions of them."""
    rng = random.Random(7)
    cases = []
    for paper in papers:
        own = paper.title + "\n\n" + paper.abstract
        other = rng.choice(papers)
        for sentence in rng.sample(grounding.split_sentences(paper.abstract), 2):
            words = sentence.split()
            cases.append((sentence, [own]))
            foreign = other.title + "\n\n" + other.abstract
            cases += [(sentence, [foreign]), (sentence, [foreign, own])]
            cases.append((" ".join(words[: max(5, len(words) // 2)]) + ".", [own]))
    return cases


def _answers(papers: list[Paper], n: int) -> list[tuple[str, dict[int, str]]]:
    rng = random.Random(11)
    cases = []
    for _ in range(n):
        chosen = rng.sample(papers, 4)
        sources = {k + 1: p.title + "\n\n" + p.abstract for k, p in enumerate(chosen)}
        parts = [
            f"{rng.choice(grounding.split_sentences(p.abstract))} [{rng.randint(1, 4)}]"
            for p in chosen[:3]
        ]
        cases.append((" ".join(parts) + " " + chosen[3].title + " is a paper.", sources))
    return cases


def _both_ways(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], Embedder], judge: Callable[[Any], Any]
) -> tuple[Any, Any, int, int]:
    pruned_emb, full_emb = Recording(make()), Recording(make())
    pruned = judge(pruned_emb)
    with monkeypatch.context() as m:
        m.setattr(grounding.judge, "PRUNE", False)
        full = judge(full_emb)
    return pruned, full, len(pruned_emb.texts), len(full_emb.texts)


def _compare(
    monkeypatch: pytest.MonkeyPatch,
    papers: list[Paper],
    make: Callable[[], Embedder],
    n_answers: int = 12,
) -> tuple[int, int]:
    claims, answers = _claims(papers), _answers(papers, n_answers)

    def judge(embedder: Embedder) -> list[Any]:
        # a memo per judgement, as the TL;DR writer and the answerer use one
        out: list[Any] = [
            grounding.score_support(c, s, embedder=grounding.CachingEmbedder(embedder)).model_dump()
            for c, s in claims
        ]
        for text, sources in answers:
            memo = grounding.CachingEmbedder(embedder)
            verdicts = grounding.check_sentences(text, sources, embedder=memo)
            out.append([v.model_dump() for v in verdicts])
        return out

    pruned, full, n_pruned, n_full = _both_ways(monkeypatch, make, judge)
    assert len(pruned) == len(claims) + len(answers)
    assert pruned == full
    scores = [s["score"] for s in pruned[: len(claims)]]
    assert min(scores) < grounding.DEFAULT_THRESHOLD < max(scores)  # both verdicts occur
    return n_pruned, n_full


def test_pruning_changes_no_verdict_and_embeds_fewer_sentences(
    monkeypatch: pytest.MonkeyPatch, sample_papers: list[Paper]
) -> None:
    n_pruned, n_full = _compare(monkeypatch, sample_papers, FakeEmbedder)
    assert n_pruned < 0.8 * n_full, (n_pruned, n_full)


def test_similarity_comes_from_the_evidence_even_when_pruned(
    monkeypatch: pytest.MonkeyPatch, sample_papers: list[Paper]
) -> None:
    paper = sample_papers[0]
    source = [paper.title + "\n\n" + paper.abstract]
    claim = grounding.split_sentences(paper.abstract)[-1]

    def judge(embedder: Embedder) -> grounding.Support:
        return grounding.score_support(claim, source, embedder=embedder)

    pruned, full, n_pruned, n_full = _both_ways(monkeypatch, FakeEmbedder, judge)
    assert pruned == full and pruned.supported
    assert pruned.similarity is not None and pruned.similarity > 0.99  # its own sentence
    assert n_pruned < n_full == len(grounding.split_sentences(source[0])) + 1


@pytest.mark.integration
def test_pruning_changes_no_verdict_with_the_real_embedder(
    monkeypatch: pytest.MonkeyPatch, sample_papers: list[Paper], real_embedder: Embedder
) -> None:
    n_pruned, n_full = _compare(monkeypatch, sample_papers[:6], lambda: real_embedder, 3)
    assert n_pruned < 0.8 * n_full, (n_pruned, n_full)
