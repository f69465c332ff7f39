"""The Library: ingest/delete/reindex, the manifest guard and interrupted-ingest leftovers."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from assistant.cli import main
from assistant.config import Settings, load_settings
from assistant.errors import InputError, StoreError
from assistant.ingest import chunk_paper, make_splitter
from assistant.library import Library
from assistant.retrieve import Retriever
from assistant.service import open_library
from assistant.testing import FakeEmbedder
from assistant.types import Paper, Rejection
from vectorstore.chroma import ChromaStore, chromadb_version


def abstract(topic: str, n: int = 6) -> str:
    return " ".join(f"Step {i} of the {topic} method improves score {i} a lot." for i in range(n))


PAPERS = [
    Paper.build(title="Glacier melt forecasting", abstract=abstract("glacier"), source="a.jsonl"),
    Paper.build(
        title="Protein folding with diffusion",
        abstract=abstract("protein"),
        published=date(2024, 3, 1),
        source="a.jsonl",
    ),
    Paper.build(title="Tokenizer-free language models", abstract=abstract("byte"), source="b.csv"),
]


@pytest.fixture()
def settings() -> Settings:
    return load_settings(chunk_tokens=20, chunk_overlap=4)


@pytest.fixture()
def lib(settings: Settings, mem_store: ChromaStore) -> Library:
    return open_library(settings, write=True, embedder=FakeEmbedder(), store=mem_store)


def chunk_ids(store: ChromaStore, paper_id: str) -> set[str]:
    return set(store._chunks.get(where={"paper_id": paper_id}, include=[])["ids"])


def expected_ids(paper: Paper, settings: Settings) -> set[str]:
    splitter = make_splitter(FakeEmbedder(), settings.chunk_tokens, settings.chunk_overlap)
    return {c.chunk_id for c in chunk_paper(paper, splitter)}


# ------------------------------------------------------------------------------ in memory


def test_ingest_reports_and_passes_rejections_through(lib: Library) -> None:
    bad = Rejection(file="c.jsonl", record=3, reason="invalid JSON")
    report = lib.ingest(PAPERS, rejected=[bad])
    assert report.added == [p.paper_id for p in PAPERS]
    assert report.rejected == [bad]
    assert report.ingested == 3
    assert lib.status()["papers"] == 3
    assert lib.status()["chunks"] == report.chunks_written == lib.store.count_chunks()
    again = lib.ingest(PAPERS)
    assert (again.unchanged, again.added, again.updated) == ([p.paper_id for p in PAPERS], [], [])
    assert lib.store.count_chunks() == report.chunks_written


def test_duplicate_ids_in_input(lib: Library) -> None:
    first = PAPERS[0]
    same_again = first.model_copy(update={"source": "b.csv"})
    edited = Paper.build(title=first.title, abstract="A different abstract.", source="c.jsonl")
    report = lib.ingest([first, same_again, edited, PAPERS[1]])
    assert report.added == [first.paper_id, PAPERS[1].paper_id]
    assert [(r.file, first.paper_id in r.reason) for r in report.rejected] == [("c.jsonl", True)]
    assert lib.paper(first.paper_id).abstract == first.abstract  # the first one wins
    assert lib.store.count_papers() == 2


def test_delete(lib: Library, settings: Settings) -> None:
    lib.ingest(PAPERS)
    gone, kept = PAPERS[0], PAPERS[1]
    kept_ids = chunk_ids(lib.store, kept.paper_id)
    assert lib.delete(gone.paper_id) is True
    assert chunk_ids(lib.store, gone.paper_id) == set()
    assert lib.store.get_paper(gone.paper_id) is None
    with pytest.raises(InputError, match="assistant papers list"):
        lib.paper(gone.paper_id)
    assert chunk_ids(lib.store, kept.paper_id) == kept_ids
    assert lib.delete(gone.paper_id) is False
    assert lib.ingest([gone]).added == [gone.paper_id]  # deleting makes it new again
    assert chunk_ids(lib.store, gone.paper_id) == expected_ids(gone, settings)


def test_papers_sorted_and_round_trip(lib: Library) -> None:
    lib.ingest(PAPERS)
    listed = lib.papers()
    assert [p.title for p in listed] == [
        "Protein folding with diffusion",  # dated first, then by title
        "Glacier melt forecasting",
        "Tokenizer-free language models",
    ]
    assert lib.paper(PAPERS[1].paper_id) == PAPERS[1]


def test_read_only_library_refuses_writes(settings: Settings, mem_store: ChromaStore) -> None:
    ro = open_library(settings, embedder=FakeEmbedder(), store=mem_store)
    with pytest.raises(StoreError, match="read-only"):
        ro.ingest(PAPERS)
    with pytest.raises(StoreError, match="read-only"):
        ro.delete("x")


def test_reindex_in_memory_stays_in_memory(lib: Library, settings: Settings) -> None:
    lib.ingest(PAPERS)
    lib._embedder = FakeEmbedder(dim=32, name="fake-32")
    report = lib.reindex()
    assert sorted(report.added) == sorted(p.paper_id for p in PAPERS)
    assert lib.store.path is None
    assert lib.store.count_papers() == 3
    assert not settings.store_dir.exists()
    assert not (settings.data_dir / "reindex-backup.jsonl").exists()


def test_reindex_interrupted_midway_loses_nothing(
    lib: Library, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reindex stopped after some papers were rebuilt: the next one still has them all."""
    import assistant.library as library_module

    lib.ingest(PAPERS)
    real = library_module.ingest_papers

    def stop_after_one(papers: list[Paper], **kw: object) -> object:
        real(papers[:1], **kw)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(library_module, "ingest_papers", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        lib.reindex()
    assert lib.store.count_papers() == 1
    assert (settings.data_dir / "reindex-backup.jsonl").is_file()
    monkeypatch.undo()

    report = lib.reindex()
    assert sorted(report.added) == sorted(p.paper_id for p in PAPERS)
    assert {p.paper_id: p for p in lib.papers()} == {p.paper_id: p for p in PAPERS}
    assert not (settings.data_dir / "reindex-backup.jsonl").exists()


def test_orphan_chunks_hidden_then_replaced(lib: Library, settings: Settings) -> None:
    """Chunks written without their paper record (an interrupted ingest) are invisible to
    search and replaced, not added to, by the next run."""
    lib.ingest(PAPERS[1:])
    orphan = PAPERS[0]
    n = 9  # more than the real chunking makes, so stale ids would show
    texts = [f"orphan glacier melt chunk {i}" for i in range(n)]
    lib.store._chunks.upsert(
        ids=[f"{orphan.paper_id}#{i}" for i in range(n)],
        embeddings=FakeEmbedder().embed(texts).tolist(),
        documents=texts,
        metadatas=[
            {"paper_id": orphan.paper_id, "title": orphan.title, "chunk_index": i} for i in range(n)
        ],
    )
    assert orphan.paper_id not in {h.paper_id for h in lib.store.all_chunks()}
    assert lib.store.get_paper(orphan.paper_id) is None
    retriever = Retriever(lib.store, lib.embedder, relevance_floor=-1.0)
    found = retriever.search("orphan glacier melt chunk 3")
    assert found.hits and orphan.paper_id not in {h.paper_id for h in found.hits}

    report = lib.ingest(PAPERS)
    assert report.added == [orphan.paper_id]
    assert chunk_ids(lib.store, orphan.paper_id) == expected_ids(orphan, settings)
    assert len(expected_ids(orphan, settings)) < n
    retriever.invalidate()
    top = retriever.search("Glacier melt forecasting").hits[0]
    assert top.paper_id == orphan.paper_id


def test_interrupted_write_is_redone(lib: Library, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(**_: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(lib.store._papers, "upsert", crash)
    with pytest.raises(RuntimeError):
        lib.ingest(PAPERS[:1])
    monkeypatch.undo()
    assert lib.store.count_chunks() > 0 and lib.store.count_papers() == 0
    assert lib.store.all_chunks() == []
    report = lib.ingest(PAPERS[:1])
    assert report.added == [PAPERS[0].paper_id]
    assert lib.store.count_chunks() == report.chunks_written


# ------------------------------------------------------------------------------ on disk


def open_lib(settings: Settings, embedder: FakeEmbedder, *, write: bool = False) -> Library:
    return open_library(settings, embedder=embedder, write=write)


@pytest.mark.integration
def test_manifest_written_and_other_embedder_refused(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_lib(settings, FakeEmbedder(), write=True) as lib:
        lib.ingest(PAPERS)
    manifest = json.loads((settings.data_dir / "manifest.json").read_text())
    assert manifest["embedder"] == "fake-embedder"
    assert (manifest["dim"], manifest["chromadb"]) == (64, chromadb_version())

    with open_lib(settings, FakeEmbedder()) as lib:  # same embedder: fine
        assert lib.store.count_papers() == 3
    for other in (FakeEmbedder(name="another"), FakeEmbedder(dim=32)):
        with pytest.raises(StoreError, match="assistant reindex"):
            open_lib(settings, other)
    # The lock is released after a refused open: a writer can still get in.
    open_lib(settings, FakeEmbedder(), write=True).close()

    # The CLI (the real embedder's name and dimension) refuses it the same way.
    assert main(["papers", "list", "--json"]) == 1
    err = json.loads(capsys.readouterr().out)
    assert "assistant reindex" in err["error"] and "fake-embedder" in err["error"]


@pytest.mark.integration
def test_reindex_rebuilds_with_new_embedder(settings: Settings) -> None:
    with open_lib(settings, FakeEmbedder(), write=True) as lib:
        lib.ingest(PAPERS)
        before = {p.paper_id: p for p in lib.papers()}
    new = FakeEmbedder(dim=32, name="fake-32")
    with open_library(settings, write=True, embedder=new, check=False) as lib:
        report = lib.reindex()
    assert sorted(report.added) == sorted(before)
    manifest = json.loads((settings.data_dir / "manifest.json").read_text())
    assert (manifest["embedder"], manifest["dim"]) == ("fake-32", 32)
    assert not (settings.data_dir / "reindex-backup.jsonl").exists()

    with open_lib(settings, new) as lib:
        assert {p.paper_id: p for p in lib.papers()} == before
        got = lib.store._chunks.get(include=["embeddings"])
        assert np.asarray(got["embeddings"]).shape[1] == 32
        assert {h.paper_id for h in lib.store.all_chunks()} == set(before)
    with pytest.raises(StoreError, match="assistant reindex"):
        open_lib(settings, FakeEmbedder())


@pytest.mark.integration
def test_reindex_recovers_abstracts_from_an_interrupted_reindex(settings: Settings) -> None:
    backup = settings.data_dir / "reindex-backup.jsonl"
    backup.parent.mkdir(parents=True)
    backup.write_text("".join(p.model_dump_json() + "\n" for p in PAPERS))
    with open_library(settings, write=True, embedder=FakeEmbedder(), check=False) as lib:
        report = lib.reindex()
        assert len(report.added) == 3 and lib.store.count_papers() == 3
    assert not backup.exists()
