"""The servers side by side with the in-process backends: TL;DR batches, retrieval, UI memory.

    python benchmarks/servers.py [--limit 54] [--chunks 100000] [--million] [--questions 20]
                                 [--only tldr,retrieval,ingest,memory] [--json]

* ``tldr``: TL;DRs of the first ``--limit`` sample papers, in-process (LocalLLM) and through
  llama-cpp-python's server at concurrency 1 and 2, same model file (the bundled model's Q8_0
  re-encoding), settings and embedder; each run gets a fresh Assistant (no shared sentence
  cache). Reports TL;DRs/min and the model-written share (the server cannot continue the reply
  opener, see docs/DEPLOY.md).
* ``retrieval``: a synthetic store of ``--chunks`` chunks (random unit vectors, sample sentences
  as text: the vectors are synthetic, so only timings mean anything) written to embedded Chroma
  and to a Chroma server; p50/p95 of the dense query (30 nearest) and of the whole hybrid search
  (real query embedding + BM25 + fusion). Each size is built once, in a child process, and
  queried through a server on its files, then embedded. ``--million`` adds a 1M-chunk store
  (slow to build: not run by default); ``--store-dir D --build-only`` builds the stores ahead
  (niced, say) and a later run with the same ``--store-dir`` reuses them, so only the queries
  need an idle machine.
* ``ingest``: the sample ingested with the real embedder into each backend (papers/s).
* ``memory``: peak RSS of a UI process (create_app + ``--questions`` chat turns) with both
  backends remote, in a child process (the sample is ingested by the parent beforehand).

Servers are started on free loopback ports by :mod:`assistant.servers` and always stopped. Run on
an idle machine; ``--limit 3 --chunks 2000 --questions 2`` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _machine import ROOT, SAMPLE, emit, load_average, log, machine, peak_rss_mb, summary

QUESTIONS = ROOT / "evals" / "fixtures" / "qa_answerable.jsonl"
CHUNKS_PER_PAPER = 4


def _questions() -> list[str]:
    return [str(json.loads(x)["question"]) for x in QUESTIONS.read_text().splitlines() if x]


def bench_tldr(base: Path, limit: int, server_threads: list[int]) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.files import cpu_threads
    from assistant.llm.llama import LocalLLM
    from assistant.llm.openai_compat import OpenAICompatLLM
    from assistant.servers import free_port, model_server
    from assistant.service import Assistant, default_embedder
    from assistant.sources import parse_file
    from assistant.testing import InMemoryStore

    papers = parse_file(SAMPLE).papers[:limit]
    # Pinned like the eval's: the adaptive policy reads the load average, which earlier heavy
    # jobs leave high, and llama.cpp's text depends on the thread count.
    settings = Settings(data_dir=base / "tldr", n_threads=cpu_threads())
    embedder = default_embedder(settings)
    embedder.embed(["warm up"])

    def run(label: str, llm: Any, concurrency: int) -> dict[str, Any]:
        llm.load()
        with Assistant(settings, llm=llm, embedder=embedder, store=InMemoryStore()) as asst:
            t0 = time.perf_counter()
            records = asst.tldrs(papers, persist=False, concurrency=concurrency)
            wall = time.perf_counter() - t0
        generated = sum(r.method == "generated" for r in records)
        row = {
            "tldrs_per_min": round(len(records) / wall * 60, 1),
            "wall_s": round(wall, 2),
            "generated_share": round(generated / len(records), 3),
        }
        log(f"  {label}: {row}")
        return row

    out: dict[str, Any] = {"papers": len(papers)}
    out["in_process"] = run("in-process", LocalLLM(settings), 1)
    base_rate = out["in_process"]["tldrs_per_min"]
    for threads in server_threads or [0]:
        # 0 = the in-process count; fewer threads leave a core for the server's Python side
        served = settings.model_copy(update={"n_threads": threads}) if threads else settings
        tag = f"_t{threads}" if threads else ""
        with model_server(served, port=free_port(), log=base / f"model{tag}.log") as server:
            out[f"server_start_s{tag}"] = round(server.started_s, 2)
            for c in (1, 2):
                remote = settings.model_copy(update={"llm_base_url": server.url, "model_slots": c})
                key = f"server_c{c}{tag}"
                out[key] = run(f"server c={c} threads={threads or 'default'}",
                               OpenAICompatLLM(remote), c)  # fmt: skip
                out[f"{key}_vs_in_process"] = round(out[key]["tldrs_per_min"] / base_rate, 3)
    return out


def _synthetic(store: Any, n_chunks: int, seed: int) -> float:
    """Write ``n_chunks`` synthetic chunks into ``store``; return the seconds it took."""
    from assistant import grounding
    from assistant.sources import parse_file
    from assistant.types import Chunk, Paper

    rng = np.random.default_rng(seed)
    sentences = [
        s for p in parse_file(SAMPLE).papers for s in grounding.split_sentences(p.abstract)
    ]
    n_papers = max(1, n_chunks // CHUNKS_PER_PAPER)
    spent = 0.0
    for start in range(0, n_papers, 250):
        items = []
        for k in range(start, min(n_papers, start + 250)):
            pid = f"syn-{k:07d}"
            chunks = []
            for j in range(CHUNKS_PER_PAPER):
                text = " ".join(sentences[int(i)] for i in rng.integers(len(sentences), size=3))
                text += f" synth{k}x{j}"
                chunks.append(Chunk(chunk_id=f"{pid}-{j}", paper_id=pid, index=j, text=text,
                                    start=0, end=len(text), title=f"Synthetic {k}"))  # fmt: skip
            vecs = rng.normal(size=(CHUNKS_PER_PAPER, 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            paper = Paper(paper_id=pid, title=f"Synthetic {k}", abstract=chunks[0].text)
            items.append((paper, chunks, vecs))
        t0 = time.perf_counter()
        store.write_papers(items)
        spent += time.perf_counter() - t0
    return spent


def _query_times(store: Any, queries: list[str], embedder: Any) -> dict[str, Any]:
    from assistant.retrieve import Retriever

    retriever = Retriever(store, embedder)
    t0 = time.perf_counter()
    retriever.search(queries[0])  # builds the keyword index once and loads the HNSW index
    first = time.perf_counter() - t0
    vectors = embedder.embed(queries)
    dense, hybrid = [], []
    for q, v in zip(queries, vectors, strict=True):
        t0 = time.perf_counter()
        store.query(v, 30)
        dense.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        retriever.search(q)
        hybrid.append(time.perf_counter() - t0)
    return {
        "dense_s": summary(dense),
        "hybrid_s": summary(hybrid),
        "first_search_s": round(first, 2),
    }


def build_child(store_dir: Path, n: int) -> dict[str, Any]:
    """Build the ``n``-chunk synthetic store in ``store_dir`` (a child process: the embedded
    client must be gone before a server opens the same files); a marker records when it finished."""
    from vectorstore.chroma import ChromaStore

    marker = store_dir / f"built-{n}.json"
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    load_start = load_average()
    store = ChromaStore(store_dir, f"syn-{n}")
    build_s = _synthetic(store, n, seed=7)
    info = {"build_s": round(build_s, 1), "chunks": store.count_chunks(),
            "load_avg": [load_start, load_average()]}  # fmt: skip
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(marker)
    return info


def bench_retrieval(base: Path, sizes: list[int], n_queries: int) -> dict[str, Any]:
    """One store per size, built once, then queried through a Chroma server on its files and
    embedded (same data both ways; the server is stopped before the embedded client opens it)."""
    from assistant.embedding.minilm import MiniLMEmbedder
    from assistant.servers import chroma_server, free_port
    from vectorstore.chroma import ChromaStore

    embedder = MiniLMEmbedder()
    queries = (_questions() * (n_queries // 74 + 1))[:n_queries]
    out: dict[str, Any] = {"vectors": "synthetic (random unit vectors), timings only"}
    for n in sizes:
        store_dir = base / f"store-{n}"
        proc = subprocess.run(
            [sys.executable, __file__, "--build-child", str(n), "--store-dir", str(base)],
            capture_output=True, text=True, timeout=6 * 3600, check=True,
        )  # fmt: skip
        built = json.loads(proc.stdout.strip().splitlines()[-1])
        out[f"build_{n}"] = built
        log(f"  store of {n} chunks: {built}")
        with chroma_server(store_dir, port=free_port(), log=base / f"chroma-{n}.log") as server:
            remote = ChromaStore(None, f"syn-{n}", url=server.url)
            row = _query_times(remote, queries, embedder)
            out[f"server_{n}"] = row
            log(f"  server {n}: {row}")
        row = _query_times(ChromaStore(store_dir, f"syn-{n}"), queries, embedder)
        out[f"embedded_{n}"] = row
        log(f"  embedded {n}: {row}")
    return out


def bench_ingest(base: Path) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.servers import chroma_server, free_port
    from assistant.service import default_embedder, open_library
    from assistant.sources import parse_file

    papers = parse_file(SAMPLE).papers
    settings = Settings(data_dir=base / "ingest")
    embedder = default_embedder(settings)
    embedder.embed(["warm up"])
    out: dict[str, Any] = {}
    with chroma_server(base / "ingest-db", port=free_port(), log=base / "ingest.log") as server:
        for kind, s in (("embedded", settings), ("server", settings.model_copy(
            update={"chroma_url": server.url, "collection": "ingest"}))):  # fmt: skip
            with open_library(s, write=True, embedder=embedder) as lib:
                report = lib.ingest(papers)
            out[kind] = {
                "papers_per_s": round(len(papers) / report.seconds, 1),
                "chunks": report.chunks_written,
            }
            log(f"  ingest {kind}: {out[kind]}")
    return out


def memory_child(n_questions: int) -> dict[str, Any]:
    from assistant.config import load_settings
    from assistant.service import Assistant
    from ui import actions
    from ui.app import create_app

    settings = load_settings()  # ASSISTANT_CHROMA_URL / ASSISTANT_LLM_BASE_URL from the parent
    with Assistant(settings, write=True) as asst:  # the parent ingested the sample
        create_app(asst)
        state = actions.ChatState()
        for q in (_questions() * 2)[:n_questions]:
            for _ in actions.chat_turn(asst, q, state):
                pass
    return {"questions": n_questions, "peak_rss_mb": round(peak_rss_mb(), 1)}


def bench_memory(base: Path, n_questions: int) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.servers import chroma_server, free_port, model_server
    from assistant.service import open_library
    from assistant.sources import parse_file

    settings = Settings(data_dir=base / "memory")
    chroma = chroma_server(base / "mem-db", port=free_port(), log=base / "mem-chroma.log")
    model = model_server(settings, port=free_port(), log=base / "mem-model.log")
    with chroma, model:
        remote = settings.model_copy(update={"chroma_url": chroma.url})
        with open_library(remote, write=True) as lib:  # not in the measured process
            lib.ingest(parse_file(SAMPLE).papers)
        env = os.environ | {
            "ASSISTANT_DATA_DIR": str(base / "memory"),
            "ASSISTANT_CHROMA_URL": chroma.url,
            "ASSISTANT_LLM_BASE_URL": model.url,
        }
        proc = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(n_questions)],
            env=env, capture_output=True, text=True, timeout=3600, check=True,
        )  # fmt: skip
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    log(f"  UI process, both remote: {result}")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=54, help="papers for the TL;DR batch")
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--million", action="store_true", help="also a 1M-chunk store (slow)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--server-threads", default="",
                    help="comma list of llama.cpp thread counts for the model server runs "
                         "(default: the in-process choice only), e.g. 2,1")  # fmt: skip
    ap.add_argument("--questions", type=int, default=20, help="chat turns for the memory run")
    ap.add_argument("--only", default="tldr,retrieval,ingest,memory")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--store-dir",
        type=Path,
        help="keep the retrieval stores here and reuse them (built once per size)",
    )
    ap.add_argument("--build-only", action="store_true",
                    help="with --store-dir: only build the retrieval stores (e.g. niced, ahead "
                         "of an idle measuring run), then exit")  # fmt: skip
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--build-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sizes = [args.chunks] + ([1_000_000] if args.million else [])
    if args.build_child is not None:
        n = args.build_child
        print(json.dumps(build_child(args.store_dir / f"store-{n}", n)))
        return 0
    if args.build_only:
        if args.store_dir is None:
            ap.error("--build-only needs --store-dir")
        for n in sizes:
            log(f"building {n} chunks in {args.store_dir}")
            print(json.dumps(build_child(args.store_dir / f"store-{n}", n)))
        return 0
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child)))
        return 0
    only = set(args.only.split(","))
    result: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp:
        base = Path(tmp)
        if "tldr" in only:
            log(f"TL;DR batch, {args.limit} papers")
            threads = [int(t) for t in args.server_threads.split(",") if t]
            result["tldr"] = bench_tldr(base, args.limit, threads)
        if "retrieval" in only:
            log(f"retrieval at {sizes} chunks")
            result["retrieval"] = bench_retrieval(args.store_dir or base, sizes, args.queries)
        if "ingest" in only:
            result["ingest"] = bench_ingest(base)
        if "memory" in only:
            result["memory"] = bench_memory(base, args.questions)
    emit(result, args.json, [json.dumps(result, indent=2)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
