"""Hybrid retrieval: dense + BM25 fused, one hit per paper, and the relevance floor."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from assistant.config import load_settings
from assistant.embedding.minilm import MiniLMEmbedder
from assistant.ingest import ingest_papers
from assistant.retrieve import Retriever, keyword_tokens
from assistant.service import open_library
from assistant.testing import FakeEmbedder
from assistant.types import Paper
from vectorstore.chroma import ChromaStore

TOPICS = {
    "Glacier melt forecasting with satellites": "glacier ice melt satellite radar forecast",
    "Protein folding with diffusion models": "protein fold structure diffusion residue",
    "Tokenizer-free byte language models": "byte tokenizer vocabulary language model",
    "Coral reef bleaching detection": "coral reef bleaching ocean temperature survey",
    "Traffic flow prediction on graphs": "traffic road sensor graph network prediction",
}

if TYPE_CHECKING:
    from tests.conftest import OfflineIngest


def paper(title: str, words: str, n: int = 5) -> Paper:
    w = words.split()
    sentences = [
        f"We study {w[i % len(w)]} and {w[(i + 1) % len(w)]} in setting {i}." for i in range(n)
    ]
    return Paper.build(title=title, abstract=" ".join(sentences))


@pytest.fixture()
def corpus(mem_store: ChromaStore) -> ChromaStore:
    papers = [paper(t, w) for t, w in TOPICS.items()]
    ingest_papers(
        papers, store=mem_store, embedder=FakeEmbedder(), chunk_tokens=16, chunk_overlap=0
    )
    assert mem_store.count_chunks() > len(papers)  # several chunks per paper
    return mem_store


def retriever(store: ChromaStore, *, top_k: int = 5, relevance_floor: float = 0.35) -> Retriever:
    return Retriever(store, FakeEmbedder(), top_k=top_k, relevance_floor=relevance_floor)


# ------------------------------------------------------------------------------ unit, fakes


def test_keyword_index_follows_writes_without_counting_on_every_query(
    corpus: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = retriever(corpus, relevance_floor=-1.0)
    r.search("glacier melt")
    counts = 0
    real = corpus.count_chunks

    def counting() -> int:
        nonlocal counts
        counts += 1
        return real()

    monkeypatch.setattr(corpus, "count_chunks", counting)
    for _ in range(5):
        r.search("coral reef")
    assert counts == 0  # no store round trip per query
    new = paper("Volcano ash plume tracking", "volcano ash plume eruption lidar")
    ingest_papers([new], store=corpus, embedder=FakeEmbedder(), chunk_tokens=16, chunk_overlap=0)
    hits = r.search("volcano ash plume eruption").hits
    assert hits and hits[0].title == new.title  # the write was seen at once


@pytest.mark.parametrize("title", list(TOPICS))
def test_title_question_finds_that_paper_first(corpus: ChromaStore, title: str) -> None:
    got = retriever(corpus, relevance_floor=0.0).search(f"What does '{title}' find?")
    assert not got.gated
    assert got.hits[0].title == title
    assert got.hits[0].dense is not None and got.hits[0].bm25 is not None


def test_one_hit_per_paper(corpus: ChromaStore) -> None:
    got = retriever(corpus, relevance_floor=-1.0, top_k=5).search("glacier protein coral byte")
    ids = [h.paper_id for h in got.hits]
    assert len(ids) == len(set(ids)) > 1
    assert len(got.hits) <= 5
    assert [h.score for h in got.hits] == sorted((h.score for h in got.hits), reverse=True)
    k2 = retriever(corpus, relevance_floor=-1.0).search("glacier protein coral", top_k=2)
    assert len(k2.hits) == 2


def test_relevance_floor_gates(corpus: ChromaStore) -> None:
    q = "Glacier melt forecasting with satellites"
    open_ = retriever(corpus, relevance_floor=-1.0).search(q)
    assert open_.hits and not open_.gated
    best = open_.best_dense
    assert best == pytest.approx(max(h.dense or -1 for h in open_.hits))
    shut = retriever(corpus, relevance_floor=min(best + 0.01, 1.0)).search(q)
    assert shut.gated and shut.hits == []
    assert shut.best_dense == pytest.approx(best)


def test_empty_store_is_gated(mem_store: ChromaStore) -> None:
    got = retriever(mem_store).search("anything at all")
    assert got.gated and got.hits == [] and got.best_dense == 0.0


def test_keyword_index_follows_new_papers(corpus: ChromaStore) -> None:
    r = retriever(corpus, relevance_floor=-1.0)
    assert r.search("volcano ash plume").hits[0].title != "Volcano ash plume tracking"
    new = paper("Volcano ash plume tracking", "volcano ash plume eruption aviation")
    ingest_papers([new], store=corpus, embedder=FakeEmbedder(), chunk_tokens=16, chunk_overlap=0)
    got = r.search("volcano ash plume")
    assert got.hits[0].title == "Volcano ash plume tracking"
    assert got.hits[0].bm25 is not None


def test_keyword_tokens() -> None:
    assert keyword_tokens("What is the GPT-4 paper about, in 2023.10?") == ["gpt-4", "2023.10"]


# ------------------------------------------------------------------------------ real sample


@pytest.fixture()
def sample_retriever(
    sample_store: OfflineIngest, isolated_env: Path, real_embedder: MiniLMEmbedder
) -> Retriever:
    assert sample_store.returncode == 0, sample_store.stderr
    shutil.copytree(sample_store.data_dir, isolated_env)
    settings = load_settings()
    lib = open_library(settings, embedder=real_embedder)
    return Retriever(
        lib.store,
        real_embedder,
        top_k=settings.top_k,
        candidates=settings.candidates,
        rrf_k=settings.rrf_k,
        relevance_floor=settings.relevance_floor,
    )


@pytest.mark.integration
def test_real_sample_retrieval(sample_retriever: Retriever) -> None:
    cases = {
        "How many parameters does Cappy have?": "Cappy: Outperforming and Boosting Large "
        "Multi-Task LMs with a Small Scorer",
        "What is in the Taskmaster-1 dialog dataset?": "Taskmaster-1: Toward a Realistic and "
        "Diverse Dialog Dataset",
        "How does Promptagator do few-shot dense retrieval?": "Promptagator: Few-shot Dense "
        "Retrieval From 8 Examples",
        "What benchmark does MultiHop-RAG propose for multi-hop queries?": "MultiHop-RAG: "
        "Benchmarking Retrieval-Augmented Generation for Multi-Hop Queries",
    }
    for question, title in cases.items():
        got = sample_retriever.search(question)
        assert not got.gated, question
        assert got.hits[0].title == title, (question, [h.title for h in got.hits])
        ids = [h.paper_id for h in got.hits]
        assert len(ids) == len(set(ids)) and len(ids) <= 5

    off = sample_retriever.search("What is the capital of France?")
    assert off.gated and off.hits == []
    assert off.best_dense < 0.35
