"""Chunking and the idempotent papers -> chunks -> store step, with the fake embedder."""

from __future__ import annotations

import pytest

from assistant.embedding.minilm import MiniLMEmbedder
from assistant.ingest import WRITE_GROUP, chunk_paper, dedupe, ingest_papers, make_splitter
from assistant.testing import FakeEmbedder
from assistant.types import IngestReport, Paper
from vectorstore.chroma import ChromaStore

CHUNK, OVERLAP = 20, 4


def long_abstract(topic: str, n: int = 8) -> str:
    return " ".join(
        f"Sentence {i} explains how {topic} changes result number {i} in our study."
        for i in range(n)
    )


def make_paper(title: str, abstract: str | None = None) -> Paper:
    return Paper.build(title=title, abstract=abstract or long_abstract(title.lower()))


def ingest(
    papers: list[Paper], store: ChromaStore, embedder: FakeEmbedder | None = None
) -> IngestReport:
    return ingest_papers(
        papers,
        store=store,
        embedder=embedder or FakeEmbedder(),
        chunk_tokens=CHUNK,
        chunk_overlap=OVERLAP,
    )


def chunk_texts(store: ChromaStore, paper_id: str) -> dict[str, str]:
    got = store._chunks.get(where={"paper_id": paper_id}, include=["documents"])
    return dict(zip(got["ids"], got["documents"], strict=True))


# ------------------------------------------------------------------------------ chunking


def test_chunks_carry_title_and_exact_spans() -> None:
    paper = make_paper("Sparse Experts for Retrieval")
    chunks = chunk_paper(paper, make_splitter(FakeEmbedder(), CHUNK, OVERLAP))
    assert len(chunks) > 3
    for i, c in enumerate(chunks):
        assert c.embed_text == f"Sparse Experts for Retrieval\n{c.text}"
        assert paper.abstract[c.start : c.end] == c.text
        assert (c.chunk_id, c.index, c.paper_id) == (f"{paper.paper_id}#{i}", i, paper.paper_id)
        assert len(c.text.split()) <= CHUNK
    assert chunks[0].start == 0 and chunks[-1].end == len(paper.abstract)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_short_abstract_is_one_chunk() -> None:
    paper = make_paper("Tiny", "One short sentence.")
    (only,) = chunk_paper(paper, make_splitter(FakeEmbedder(), CHUNK, OVERLAP))
    assert (only.text, only.start, only.end) == ("One short sentence.", 0, 19)


def test_sample_spans_exact_with_fake_tokens(sample_papers: list[Paper]) -> None:
    splitter = make_splitter(FakeEmbedder(), 96, 16)
    for p in sample_papers:
        chunks = chunk_paper(p, splitter)
        assert chunks, p.title
        for c in chunks:
            assert p.abstract[c.start : c.end] == c.text
            assert c.embed_text.startswith(p.title + "\n")


@pytest.mark.integration
def test_sample_chunks_fit_the_real_model(
    sample_papers: list[Paper], real_embedder: MiniLMEmbedder
) -> None:
    """Sized in the embedder's own tokens, so nothing is silently truncated at 256."""
    splitter = make_splitter(real_embedder, 96, 16)
    n = 0
    for p in sample_papers:
        for c in chunk_paper(p, splitter):
            n += 1
            assert p.abstract[c.start : c.end] == c.text
            assert real_embedder.count_tokens(c.text) <= 96
            assert real_embedder.count_tokens(c.embed_text) + 2 <= 256  # + [CLS] [SEP]
    assert n > len(sample_papers)  # some abstracts need more than one chunk


# ------------------------------------------------------------------------------ ingest


def test_ingest_then_same_input_again_changes_nothing(mem_store: ChromaStore) -> None:
    papers = [make_paper(f"Paper {t}") for t in ("alpha", "beta", "gamma")]
    first = ingest(papers, mem_store)
    assert first.added == [p.paper_id for p in papers]
    assert first.updated == first.unchanged == []
    assert first.chunks_written == mem_store.count_chunks() > 3
    counts = (mem_store.count_papers(), mem_store.count_chunks())
    ids_before = set(mem_store._chunks.get(include=[])["ids"])

    embedder = FakeEmbedder()
    second = ingest(papers, mem_store, embedder)
    assert second.unchanged == [p.paper_id for p in papers]
    assert second.added == second.updated == []
    assert second.chunks_written == 0
    assert embedder.calls == []  # nothing re-embedded
    assert (mem_store.count_papers(), mem_store.count_chunks()) == counts
    assert set(mem_store._chunks.get(include=[])["ids"]) == ids_before


def test_edited_abstract_replaces_exactly_that_papers_chunks(mem_store: ChromaStore) -> None:
    a, b = make_paper("Paper alpha"), make_paper("Paper beta")
    ingest([a, b], mem_store)
    b_before = chunk_texts(mem_store, b.paper_id)
    old_a = chunk_texts(mem_store, a.paper_id)
    assert len(old_a) > 2

    edited = Paper.build(title=a.title, abstract="Now a single short sentence about alpha.")
    assert edited.paper_id == a.paper_id and edited.content_hash != a.content_hash
    report = ingest([edited, b], mem_store)
    assert (report.updated, report.unchanged, report.added) == ([a.paper_id], [b.paper_id], [])

    assert chunk_texts(mem_store, a.paper_id) == {
        f"{a.paper_id}#0": "Now a single short sentence about alpha."
    }
    assert chunk_texts(mem_store, b.paper_id) == b_before
    assert mem_store.count_chunks() == 1 + len(b_before)
    assert mem_store.get_paper(a.paper_id) == edited
    hits = mem_store.query(FakeEmbedder().embed([old_a[f"{a.paper_id}#1"]])[0], 50)
    assert all(h.chunk_id in {f"{a.paper_id}#0", *b_before} for h in hits)


def test_edit_that_grows_the_abstract(mem_store: ChromaStore) -> None:
    a = make_paper("Paper alpha", "Short.")
    ingest([a], mem_store)
    grown = Paper.build(title=a.title, abstract=long_abstract("alpha", 12))
    report = ingest([grown], mem_store)
    expected = chunk_paper(grown, make_splitter(FakeEmbedder(), CHUNK, OVERLAP))
    assert report.chunks_written == len(expected) == mem_store.count_chunks()
    assert chunk_texts(mem_store, a.paper_id) == {c.chunk_id: c.text for c in expected}


def test_stored_metadata(mem_store: ChromaStore) -> None:
    from datetime import date

    p = Paper.build(
        title="Metadata paper",
        abstract=long_abstract("metadata"),
        arxiv_id="2401.00001",
        authors=["Ada Lovelace", "Alan Turing"],
        published=date(2024, 1, 2),
        url="https://arxiv.org/abs/2401.00001",
        source="x.jsonl",
    )
    ingest([p], mem_store)
    assert mem_store.get_paper("2401.00001") == p
    got = mem_store._chunks.get(where={"paper_id": "2401.00001"}, include=["metadatas"])
    metas = sorted(got["metadatas"], key=lambda m: m["chunk_index"])
    for i, m in enumerate(metas):
        assert m["chunk_index"] == i
        assert p.abstract[m["start"] : m["end"]]  # a real span
        assert (m["title"], m["published"], m["n_authors"]) == (p.title, "2024-01-02", 2)
        assert m["url"] == p.url
        assert "Ada Lovelace" in m["authors"]
    hit = mem_store.all_chunks()[0]
    assert hit.authors == "Ada Lovelace, Alan Turing"


def test_many_papers_span_write_groups(mem_store: ChromaStore) -> None:
    papers = [make_paper(f"Paper {i}", f"Abstract number {i}.") for i in range(WRITE_GROUP + 5)]
    ticks: list[int] = []
    report = ingest_papers(
        papers,
        store=mem_store,
        embedder=FakeEmbedder(),
        chunk_tokens=CHUNK,
        chunk_overlap=OVERLAP,
        progress=ticks.append,
    )
    assert len(report.added) == mem_store.count_papers() == mem_store.count_chunks() == len(papers)
    assert ticks == [WRITE_GROUP, 5]
    again: list[int] = []
    ingest_papers(
        papers,
        store=mem_store,
        embedder=FakeEmbedder(),
        chunk_tokens=CHUNK,
        chunk_overlap=OVERLAP,
        progress=again.append,
    )
    assert again == [len(papers)]


def test_dedupe() -> None:
    a = make_paper("Same title")
    same = a.model_copy(update={"source": "second.jsonl"})
    other = Paper.build(title="Same title", abstract="Different text.", source="third.jsonl")
    kept, rejected = dedupe([a, same, other], lambda p: p.source)
    assert kept == [a]
    assert len(rejected) == 1
    assert rejected[0].file == "third.jsonl"
    assert a.paper_id in rejected[0].reason and "twice" in rejected[0].reason


def test_chroma_default_embedding_function_never_runs(
    mem_store: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma 1.5 falls back to its ONNX MiniLM (which downloads) even for collections opened
    with embedding_function=None, whenever text arrives without vectors; we must always pass
    vectors ourselves."""
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("Chroma's default embedding function was invoked")

    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "__init__", refuse)
    with pytest.raises(AssertionError, match="default embedding function"):  # the probe works
        mem_store._chunks.add(ids=["probe"], documents=["text without a vector"])

    papers = [make_paper("Paper alpha"), make_paper("Paper beta")]
    ingest(papers, mem_store)
    edited = Paper.build(title="Paper alpha", abstract="Edited.")
    ingest([edited, papers[1]], mem_store)
    assert mem_store.query(FakeEmbedder().embed(["alpha"])[0], 5)
    assert mem_store.all_chunks() and mem_store.papers() and mem_store.hashes()
    assert mem_store.delete_paper(papers[1].paper_id)
