"""Threat 11: bad input files. What tests/test_sources.py, tests/test_sources_fuzz.py and
tests/test_cli_library.py do not already cover:

* a 50 MB file in every record format whose one giant record is rejected with a clear reason
  naming the file and record, while the good records around it are kept, in bounded time;
* fuzzing past the parsers: whatever a parser accepts also chunks (every chunk is a verbatim
  span of its abstract) and ingests into a store without an exception.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.config import Settings
from assistant.ingest import chunk_paper, make_splitter
from assistant.service import open_library
from assistant.sources import parse_file, parse_text
from assistant.sources._common import MAX_ABSTRACT_CHARS
from assistant.testing import FakeEmbedder
from assistant.types import Paper
from vectorstore.chroma import ChromaStore

BIG = 50 * 1024 * 1024
GOOD = {"title": "A good paper", "abstract": "It states one thing."}
LAST = {"title": "The last good paper", "abstract": "It states another thing."}


@pytest.fixture(scope="module")
def giant_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    """name -> (file of ~50 MB, record number of its giant record)."""
    tmp_path = tmp_path_factory.mktemp("giant")
    filler = "word " * (BIG // 5)
    atom_entry = "<entry><title>{t}</title><summary>{s}</summary></entry>"
    files = {
        "giant.jsonl": (
            "\n".join(json.dumps(r) for r in (GOOD, {"title": "Giant", "abstract": filler}, LAST))
            + "\n",
            2,
        ),
        "giant.json": (json.dumps([GOOD, {"title": "Giant", "abstract": filler}, LAST]), 2),
        "giant.xml": (
            '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">'
            + atom_entry.format(t=GOOD["title"], s=GOOD["abstract"])
            + atom_entry.format(t="Giant", s=filler)
            + atom_entry.format(t=LAST["title"], s=LAST["abstract"])
            + "</feed>",
            2,
        ),
    }
    out = {}
    for name, (text, record) in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert path.stat().st_size > BIG * 0.99
        out[name] = (path, record)
    return out


def test_fifty_megabyte_record_is_rejected_and_the_rest_kept(
    giant_files: dict[str, tuple[Path, int]],
) -> None:
    for name, (path, record) in giant_files.items():
        t0 = time.monotonic()
        result = parse_file(path)  # under the default 64 MB file limit: parsed, not refused
        seconds = time.monotonic() - t0
        assert [p.title for p in result.papers] == [GOOD["title"], LAST["title"]], name
        [rej] = result.rejected
        assert rej.file == str(path) and rej.record == record, (name, rej)
        assert rej.reason.startswith("abstract too long"), rej.reason
        assert f"the limit is {MAX_ABSTRACT_CHARS:,}" in rej.reason
        assert seconds < 60, (name, seconds)


def test_giant_csv_field_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "giant.csv"
    path.write_text(
        'title,abstract\nGood,Fine text.\nGiant,"' + "b " * (BIG // 2) + '"\nLast,Also fine.\n'
    )
    result = parse_file(path)
    assert [p.title for p in result.papers] == ["Good", "Last"]
    [rej] = result.rejected
    assert rej.file == str(path) and rej.record == 3 and rej.reason


def test_library_ingests_the_good_records_of_a_giant_file(
    giant_files: dict[str, tuple[Path, int]], tmp_path: Path
) -> None:
    path, _ = giant_files["giant.jsonl"]
    result = parse_file(path)
    store = ChromaStore(None, f"t-{uuid.uuid4().hex[:12]}")
    lib = open_library(
        Settings(data_dir=tmp_path / "d"), write=True, embedder=FakeEmbedder(), store=store
    )
    report = lib.ingest(result.papers, rejected=result.rejected)
    assert len(report.added) == 2 and len(report.rejected) == 1
    assert store.count_papers() == 2


# ------------------------------------------------------------- fuzz: parse -> chunk -> store

TEXT = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=("Cs",)),
        st.sampled_from(list(" .,;!?\n\t\u2028\u00a0-–—")),
    ),
    max_size=600,
)


@pytest.fixture(scope="module")
def fuzz_store() -> ChromaStore:
    return ChromaStore(None, f"t-{uuid.uuid4().hex[:12]}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=4))
def test_whatever_parses_also_chunks_and_ingests(
    fuzz_store: ChromaStore,
    tmp_path_factory: pytest.TempPathFactory,
    records: list[tuple[str, str]],
) -> None:
    text = "\n".join(json.dumps({"title": t, "abstract": a}) for t, a in records) + "\n"
    result = parse_text(text, "fuzz.jsonl", "jsonl")
    emb = FakeEmbedder()
    splitter = make_splitter(emb, 16, 4)
    for paper in result.papers:
        chunks = chunk_paper(paper, splitter)
        for c in chunks:  # every chunk is a verbatim span of the abstract
            assert paper.abstract[c.start : c.end] == c.text
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("d"), chunk_tokens=16, chunk_overlap=4)
    lib = open_library(settings_, write=True, embedder=emb, store=fuzz_store)
    lib.ingest(result.papers)
    for paper in result.papers:
        stored = fuzz_store.get_paper(paper.paper_id)
        assert stored is not None and stored.abstract == paper.abstract


def test_chunks_of_a_paper_with_only_punctuation_and_spaces() -> None:
    paper = Paper.build(title="T", abstract=". . . ;;; \u2028 — — ... !!! ???")
    chunks = chunk_paper(paper, make_splitter(FakeEmbedder(), 16, 4))
    assert all(paper.abstract[c.start : c.end] == c.text for c in chunks)
