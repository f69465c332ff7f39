"""The assistant against real servers on loopback: a `chroma run` server as the store and
llama-cpp-python's OpenAI-compatible server as the model (fixtures in conftest.py start them
once per session). Ingest, ask, a TL;DR batch with two papers in flight, two processes and two
UI replicas on one store, and the store's faults: killed mid-ingest, down, built differently.

Each test uses a collection of its own on the shared server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.errors import StoreError, StoreServerError
from assistant.ingest import WRITE_GROUP
from assistant.servers import ServerProcess, chroma_server, free_port
from assistant.service import Assistant, open_library
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM, InMemoryStore
from assistant.types import Paper

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SAMPLE = ROOT / "assistant" / "data" / "hf_daily_sample.txt"
ASSISTANT = Path(sys.executable).with_name("assistant")
CAPPY = "cappy-outperforming-and-boosting-large-multi-tas-f0c7b063"


def _collection() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env |= {"HOME": str(tmp_path), "ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    env |= {f"ASSISTANT_{k.upper()}": v for k, v in settings.items()}
    return env


def _cli(args: list[str], env: dict[str, str], timeout: float = 300) -> Any:
    return subprocess.run(
        [str(ASSISTANT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


# ---- the happy path through both servers -------------------------------------------------------


def test_ingest_ask_and_status_through_both_servers(
    tmp_path: Path, chroma_server: ServerProcess, model_server: ServerProcess
) -> None:
    env = _env(
        tmp_path,
        chroma_url=chroma_server.url,
        llm_base_url=model_server.url,
        collection=_collection(),
    )
    ingest = _cli(["ingest", str(SAMPLE), "--json"], env)
    assert ingest.returncode == 0, ingest.stderr
    assert len(json.loads(ingest.stdout)["added"]) == 54
    status = json.loads(_cli(["status", "--json"], env).stdout)
    assert status["papers"] == 54 and chroma_server.url in status["store"]
    assert status["manifest"]["embedder"] == "all-MiniLM-L6-v2"
    data_dir = tmp_path / "data"
    # the store, its manifest and its lock are on the server, not in the data dir
    assert not (data_dir / "chroma").exists() and not (data_dir / "manifest.json").exists()
    ask = _cli(["ask", "How many parameters does Cappy have?", "--json"], env)
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert not answer["abstained"] and answer["citations"], answer
    assert answer["citations"][0]["paper_id"] == CAPPY
    assert "360 million" in answer["answer"] + answer["citations"][0]["quote"]
    assert answer["provenance"]["model"] == "SmolLM2-135M-Instruct.Q4_1"


def test_tldr_batch_with_two_in_flight_is_ordered_shared_and_resumable(
    tmp_path: Path, chroma_server: ServerProcess, model_server: ServerProcess
) -> None:
    env = _env(
        tmp_path,
        chroma_url=chroma_server.url,
        llm_base_url=model_server.url,
        collection=_collection(),
    )
    assert _cli(["ingest", str(SAMPLE), "--quiet"], env).returncode == 0
    listed = json.loads(_cli(["papers", "list", "--json"], env).stdout)
    ids = [p["paper_id"] for p in listed[:4]]
    first = _cli(["tldr", "--paper", *ids, "--concurrency", "2", "--json", "--quiet"], env)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in first.stdout.splitlines()]
    assert [r["paper_id"] for r in records] == ids  # input order, whatever finished first
    assert all(r["support"] > 0 and r["tldr"] for r in records)
    assert not (tmp_path / "data" / "tldrs.jsonl").exists()  # kept on the server
    # another process (another data dir: a second UI replica) sees them and reuses them
    other = _env(
        tmp_path / "other",
        chroma_url=chroma_server.url,
        llm_base_url=model_server.url,
        collection=env["ASSISTANT_COLLECTION"],
    )
    t0 = time.perf_counter()
    again = _cli(["tldr", "--paper", *ids, "--concurrency", "2", "--json", "--quiet"], other)
    assert again.returncode == 0, again.stderr
    assert [json.loads(line) for line in again.stdout.splitlines()] == records
    assert time.perf_counter() - t0 < 60


def test_two_processes_use_one_server_store_at_once(
    tmp_path: Path, chroma_server: ServerProcess, real_embedder: Any
) -> None:
    collection = _collection()
    settings = Settings(
        data_dir=tmp_path / "data", chroma_url=chroma_server.url, collection=collection
    )
    env = _env(tmp_path, chroma_url=chroma_server.url, collection=collection)
    # this process holds a writing library open, as the UI does; in embedded mode another
    # writer would exit 3 at once ("store is in use")
    with open_library(settings, write=True, embedder=real_embedder) as lib:
        lib.ingest(parse_file(DATA / "ui_papers.jsonl").papers)
        procs = [
            subprocess.Popen(
                [str(ASSISTANT), *args], env=env, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )
            for args in (["ingest", str(SAMPLE), "--json", "--quiet"], ["status", "--json"])
        ]  # fmt: skip
        lib.ingest(parse_file(DATA / "ui_upload.jsonl").papers)  # writing meanwhile
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
        assert len(json.loads(outs[0][0])["added"]) == 54
        assert json.loads(outs[1][0])["papers"] >= 3
        assert lib.store.count_papers() == 54 + 3 + 1


def test_two_ui_replicas_share_papers_and_tldrs(tmp_path: Path, chroma_server: Any) -> None:
    from gradio_client import Client

    from ui.app import start

    collection = _collection()
    running = []
    apps = []
    for name in ("a", "b"):
        settings = Settings(
            data_dir=tmp_path / name, chroma_url=chroma_server.url, host="127.0.0.1", port=0,
            relevance_floor=0.2, collection=collection,
        )  # fmt: skip
        llm = FakeLLM(default_text="Cappy is a small scorer with 360 million parameters.")
        assistant = Assistant(settings, write=True, llm=llm, embedder=FakeEmbedder())
        apps.append(assistant)
        running.append(start(assistant, settings, warm=False))
    try:
        a, b = (Client(r.url, verbose=False, analytics_enabled=False) for r in running)
        pasted = (DATA / "ui_papers.jsonl").read_text()
        summary, *_ = a.predict(pasted, None, api_name="/ingest")
        assert "added 3" in summary
        status, table = b.predict(api_name="/papers")  # the other replica sees them at once
        assert "3 papers" in status and len(table["data"]) == 3
        chat, _ = b.predict("How many parameters does Cappy have?", api_name="/ask")
        assert "360 million" in json.dumps(chat)
        # a TL;DR written through one replica is the other's too
        papers = apps[0].library.papers()
        apps[0].tldrs(papers)
        deadline = time.monotonic() + 10
        while len(apps[1].journal.records) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(apps[1].journal.records) == {p.paper_id for p in papers}
        assert not (tmp_path / "a" / "tldrs.jsonl").exists()
    finally:
        for r in running:
            r.close()
        for assistant in apps:
            assistant.close()


# ---- the store's faults ------------------------------------------------------------------------


def _many_papers(n: int) -> list[Paper]:
    base = parse_file(SAMPLE).papers
    out = []
    for i in range(n):
        p = base[i % len(base)]
        title = f"{p.title} (copy {i})"
        out.append(Paper(paper_id=f"copy-{i:04d}", title=title, abstract=p.abstract))
    return out


def test_chroma_killed_mid_ingest_then_a_rerun_converges(tmp_path: Path) -> None:
    server = chroma_server(tmp_path / "db", port=free_port(), log=tmp_path / "chroma.log")
    papers = _many_papers(WRITE_GROUP * 2 + 10)
    settings = Settings(data_dir=tmp_path / "data", chroma_url=server.url)
    embedder = FakeEmbedder()
    with server:
        lib = open_library(settings, write=True, embedder=embedder)
        written = 0

        def progress(total: int, desc: str) -> Any:
            def tick(n: int) -> None:
                nonlocal written
                written += n
                if written >= WRITE_GROUP:
                    server.kill()  # the server dies after the first group is committed

            return tick

        with pytest.raises(StoreServerError) as info:
            lib.ingest(papers, progress=progress)
        assert server.url in str(info.value) and info.value.exit_code == 5
        assert "Chroma server" in str(info.value)
        # the CLI says the same, with exit code 5
        down = _cli(["status"], _env(tmp_path, chroma_url=server.url), timeout=60)
        assert down.returncode == 5 and server.url in down.stderr, down.stderr
        server.start()  # same data, same port
        lib = open_library(settings, write=True, embedder=embedder)
        report = lib.ingest(papers)
        assert len(report.unchanged) >= WRITE_GROUP  # the committed group was kept
        assert len(report.added) + len(report.unchanged) == len(papers)
        reference = InMemoryStore()
        open_library(settings, embedder=embedder, store=reference, write=True).ingest(papers)
        # every paper committed, and not one chunk more than a clean run writes
        assert lib.store.committed_ids() == {p.paper_id for p in papers}
        assert lib.store.count_chunks() == reference.count_chunks()
        assert lib.ingest(papers).chunks_written == 0  # and a third run changes nothing


def test_a_server_store_built_by_another_embedder_is_refused(
    tmp_path: Path, chroma_server: ServerProcess
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", chroma_url=chroma_server.url, collection=_collection()
    )
    with open_library(settings, write=True, embedder=FakeEmbedder()) as lib:
        lib.ingest(parse_file(DATA / "ui_papers.jsonl").papers)
    with pytest.raises(StoreError, match="reindex") as info:
        open_library(settings, embedder=FakeEmbedder(name="another-embedder"))
    assert chroma_server.url in str(info.value)
    # reindex rebuilds it on the server with the new embedder, which is then accepted
    other = FakeEmbedder(name="another-embedder")
    with open_library(settings, write=True, embedder=other, check=False) as lib:
        assert lib.reindex().chunks_written > 0
    with open_library(settings, embedder=other) as lib:
        assert lib.status()["manifest"]["embedder"] == "another-embedder"
        assert lib.store.count_papers() == 3


def test_a_store_server_that_is_down_is_a_clear_fast_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = Settings(data_dir=tmp_path / "data", chroma_url=url)
    t0 = time.perf_counter()
    with pytest.raises(StoreServerError, match="is it running") as info:
        open_library(settings, embedder=FakeEmbedder())
    assert url in str(info.value) and time.perf_counter() - t0 < 5
