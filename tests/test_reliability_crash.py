"""Threats 8 and 10: a process killed (SIGKILL) in the middle of an ingest or a TL;DR batch.

Real processes, real kills at random points, the real on-disk Chroma store and journal; only the
embedder and the model are fakes (FakeEmbedder, FakeLLM) so a trial takes seconds. After each
kill a fresh process reopens the data and checks it, then reruns the job and checks that it
converges: no duplicates, nothing missing, finished work not redone.

The normal suite runs 3 trials of each over a few hundred papers; `make soak` runs 10 trials
over a few thousand (the `soak` marker).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from assistant.ingest import WRITE_GROUP
from tests.helpers_reliability import (
    run_and_kill,
    run_driver,
    synthetic_records,
    write_jsonl,
)

# ------------------------------------------------------------------------------------- ingest

INGEST = """
import sys
from pathlib import Path
from assistant.config import Settings
from assistant.service import open_library
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder

data_dir, src = sys.argv[1], Path(sys.argv[2])
papers = parse_file(src).papers
with open_library(Settings(data_dir=data_dir), write=True, embedder=FakeEmbedder()) as lib:
    def progress(total, desc):
        return lambda n: print("P", n, flush=True)
    lib.ingest(papers, progress=progress)
print("DONE", flush=True)
"""

# Reopens the store (a new process), checks it, reruns the ingest and checks again.
CHECK_INGEST = """
import json, sys
from pathlib import Path
from assistant.config import Settings
from assistant.errors import StoreError
from assistant.ingest import chunk_paper, make_splitter
from assistant.service import open_library
from assistant.retrieve import Retriever
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder

data_dir, src = Path(sys.argv[1]), Path(sys.argv[2])
settings = Settings(data_dir=data_dir)
papers = parse_file(src).papers
order = [p.paper_id for p in papers]
splitter = make_splitter(FakeEmbedder(), settings.chunk_tokens, settings.chunk_overlap)
expected = {p.paper_id: {c.chunk_id for c in chunk_paper(p, splitter)} for p in papers}
out = {}

def chunks_by_paper(store):
    got = store._chunks.get(include=["metadatas"])
    by = {}
    for cid, meta in zip(got["ids"], got["metadatas"]):
        by.setdefault(meta["paper_id"], set()).add(cid)
    return got["ids"], by

# a store written by this embedder must refuse another one, even after a crash
manifest = (data_dir / "manifest.json").is_file()
out["manifest"] = manifest
if manifest:
    try:
        open_library(settings, embedder=FakeEmbedder(name="other", dim=32)).close()
        out["other_embedder_refused"] = False
    except StoreError as exc:
        out["other_embedder_refused"] = "assistant reindex" in str(exc)

with open_library(settings, write=True, embedder=FakeEmbedder()) as lib:
    store = lib.store
    committed = store.committed_ids()
    ids, by = chunks_by_paper(store)
    out["committed"] = len(committed)
    out["committed_is_prefix"] = committed == set(order[: len(committed)])
    out["chunks_total"] = len(ids)
    out["chunk_ids_unique"] = len(ids) == len(set(ids))
    out["committed_complete"] = all(by.get(pid) == expected[pid] for pid in committed)
    out["orphan_papers"] = len(set(by) - committed)
    visible = {h.paper_id for h in store.all_chunks()}
    out["orphans_hidden"] = visible <= committed
    if committed:
        retr = Retriever(store, lib.embedder, relevance_floor=-1.0)
        hits = retr.search("method benchmark variant accuracy").hits
        out["search_ok"] = bool(hits) and all(h.paper_id in committed for h in hits)
    else:
        out["search_ok"] = True
    report = lib.ingest(papers)
    out["rerun_unchanged"] = len(report.unchanged)
    out["rerun_added"] = len(report.added)
    ids, by = chunks_by_paper(store)
    out["final_papers"] = store.count_papers()
    out["final_chunks"] = len(ids)
    out["final_exact"] = by == expected and len(ids) == len(set(ids))
    again = lib.ingest(papers)
    out["third_run_written"] = again.chunks_written
    out["expected_chunks"] = sum(len(v) for v in expected.values())
print(json.dumps(out))
"""


def _ingest_trial(tmp_path: Path, src: Path, n: int, rng: random.Random) -> dict[str, Any]:
    data_dir = tmp_path / f"data-{rng.randrange(10**9)}"
    groups = -(-n // WRITE_GROUP)
    killed = run_and_kill(
        INGEST,
        str(data_dir),
        str(src),
        after_lines=rng.randrange(0, groups),
        extra_delay=rng.uniform(0.0, 0.4),
    )
    result = json.loads(run_driver(CHECK_INGEST, str(data_dir), str(src)).stdout)
    result["killed"] = killed.killed
    return result


def _assert_ingest_recovered(r: dict[str, Any], n: int) -> None:
    # the store opens; what it says is committed is whole, in commit order
    assert r["chunk_ids_unique"] and r["committed_complete"] and r["committed_is_prefix"], r
    assert r["committed"] % WRITE_GROUP == 0 or r["committed"] == n, r  # whole groups only
    assert r["orphans_hidden"] and r["search_ok"], r
    if r["chunks_total"]:
        assert r["manifest"] and r["other_embedder_refused"], r
    # the rerun converges: all papers, every chunk exactly once, committed ones not redone
    assert r["rerun_unchanged"] == r["committed"], r
    assert r["rerun_added"] == n - r["committed"], r
    assert r["final_papers"] == n and r["final_exact"], r
    assert r["final_chunks"] == r["expected_chunks"], r
    assert r["third_run_written"] == 0, r


def _ingest_trials(tmp_path: Path, n: int, trials: int, seed: int) -> None:
    src = write_jsonl(tmp_path / "papers.jsonl", synthetic_records(n, seed=seed))
    rng = random.Random(seed)
    results = [_ingest_trial(tmp_path, src, n, rng) for _ in range(trials)]
    for r in results:
        _assert_ingest_recovered(r, n)
    assert sum(r["killed"] for r in results) >= trials - 1, results  # kills landed mid-run


def test_sigkill_during_ingest_recovers(tmp_path: Path) -> None:
    _ingest_trials(tmp_path, n=256, trials=3, seed=7)


@pytest.mark.soak
def test_sigkill_during_ingest_recovers_soak(tmp_path: Path) -> None:
    _ingest_trials(tmp_path, n=3000, trials=10, seed=11)


# ------------------------------------------------------------------------------------- TL;DRs

# A TL;DR batch through Assistant.tldrs with a slow FakeLLM; prints one progress line per paper.
TLDR = """
import json, sys
from pathlib import Path
from assistant.config import Settings
from assistant.service import Assistant
from assistant.sources import parse_file
from assistant.grounding.textnorm import split_sentences
from assistant.testing import FakeEmbedder, FakeLLM, user_text

data_dir, src, delay = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
papers = parse_file(src).papers

def first_sentence(messages):
    return split_sentences(user_text(messages).split("Abstract:", 1)[1])[0]

llm = FakeLLM(responder=first_sentence, delay_s=delay)
store = object()  # the batch takes its papers from the file: no store (and no Chroma) needed
reused = []
settings = Settings(data_dir=data_dir)
with Assistant(settings, llm=llm, embedder=FakeEmbedder(), store=store) as a:
    def done(rec, was_reused):
        reused.append(was_reused)
        print("P", rec.paper_id, flush=True)
    a.tldrs(papers, on_done=done)
calls = len(llm.calls)
# once more, as a new run would (the journal read back from disk): nothing left to do
with Assistant(settings, llm=llm, embedder=FakeEmbedder(), store=store) as again:
    again.tldrs(papers)
print(json.dumps({"calls": calls, "reused": sum(reused), "again": len(llm.calls) - calls}))
"""


def _last_json(stdout: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stdout.strip().split("\n")[-1])
    return result


def _journal_lines(path: Path) -> tuple[list[str], bool]:
    raw = path.read_bytes().decode("utf-8") if path.exists() else ""
    return [line for line in raw.split("\n") if line], raw == "" or raw.endswith("\n")


def _tldr_trials(tmp_path: Path, n: int, trials: int, seed: int) -> None:
    from assistant.types import Tldr

    records = synthetic_records(n, seed=seed)
    src = write_jsonl(tmp_path / "papers.jsonl", records)
    rng = random.Random(seed)
    for trial in range(trials):
        data_dir = tmp_path / f"data-{trial}"
        journal = data_dir / "tldrs.jsonl"
        killed = run_and_kill(
            TLDR,
            str(data_dir),
            str(src),
            "0.02",
            after_lines=rng.randrange(1, n - 1),
            extra_delay=rng.uniform(0.0, 0.05),
        )
        assert killed.killed, killed.stderr
        lines, _ = _journal_lines(journal)
        valid_before = 0
        for line in lines:
            Tldr.model_validate_json(line)  # every line written before the kill is whole
            valid_before += 1
        if trial == 0 and lines:
            # a power cut can also tear the last write: the next run must repair that too
            with journal.open("ab") as fh:
                fh.write(b'{"paper_id": "torn-by-power-cut", "tld')
        rerun = _last_json(run_driver(TLDR, str(data_dir), str(src), "0").stdout)
        lines, ends_clean = _journal_lines(journal)
        recs = [Tldr.model_validate_json(line) for line in lines]
        ids = [r.paper_id for r in recs]
        assert ends_clean and len(lines) == n, (trial, len(lines))
        assert len(set(ids)) == n  # exactly one line per paper
        assert rerun["reused"] == valid_before  # finished papers skipped ...
        assert rerun["calls"] == n - valid_before  # ... and only the rest sent to the model
        assert rerun["again"] == 0  # a third run has nothing left to do


def test_sigkill_during_tldr_batch_resumes(tmp_path: Path) -> None:
    _tldr_trials(tmp_path, n=40, trials=3, seed=3)


@pytest.mark.soak
def test_sigkill_during_tldr_batch_resumes_soak(tmp_path: Path) -> None:
    _tldr_trials(tmp_path, n=200, trials=10, seed=5)
