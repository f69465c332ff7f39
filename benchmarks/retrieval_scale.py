"""Retrieval at scale: query embedding + hybrid search over a synthetic store of 100k chunks.

    python benchmarks/retrieval_scale.py [--chunks 100000] [--queries 100] [--json]

The store is generated, never committed: papers of 4 chunks whose vectors are the real MiniLM
vector of a random sample abstract plus Gaussian noise (so real questions find dense matches
above the relevance floor and the whole fusion path runs), and whose text is three random
sentences of the sample corpus plus a unique token (so BM25 sees a realistic vocabulary). It is
written through ``ChromaStore.write_papers`` into a persistent Chroma store in a temporary dir
(build time reported). Queries are the fixture questions, cycled; each is a full
``Retriever.search`` (real query embedding, Chroma, bm25s, fusion). The keyword index is built
once, on the first query, and timed on its own.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _machine import ROOT, SAMPLE, Clock, emit, log, machine, summary

QUESTIONS = ROOT / "evals" / "fixtures" / "qa_answerable.jsonl"
CHUNKS_PER_PAPER = 4


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--store-dir",
        type=Path,
        default=None,
        help="keep the synthetic store here; reuse it if built",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from assistant import grounding
    from assistant.embedding.minilm import MiniLMEmbedder
    from assistant.retrieve import Retriever, _KeywordIndex
    from assistant.sources import parse_file
    from assistant.types import Chunk, Paper
    from vectorstore.chroma import ChromaStore

    info = machine()
    rng = np.random.default_rng(args.seed)
    embedder = MiniLMEmbedder()
    sample = parse_file(SAMPLE).papers
    base = embedder.embed([f"{p.title}\n{p.abstract}" for p in sample])
    sentences = [s for p in sample for s in grounding.split_sentences(p.abstract)]
    n_papers = max(1, args.chunks // CHUNKS_PER_PAPER)

    tmp = None
    if args.store_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-retrieval-")
    root = args.store_dir or Path(tmp.name)  # type: ignore[union-attr]
    store = ChromaStore(root / "chroma", "synthetic")
    reused = store.count_chunks() >= n_papers * CHUNKS_PER_PAPER
    build = Clock()
    gen_s = 0.0
    if reused:
        log(f"reusing the store in {root} ({store.count_chunks()} chunks)")
    else:
        log(f"building {n_papers * CHUNKS_PER_PAPER} chunks (load {info['load_avg_start']})")
    batch = 250
    for start in range(0, 0 if reused else n_papers, batch):
        t0 = time.perf_counter()
        items: list[tuple[Paper, list[Chunk], Any]] = []
        for k in range(start, min(n_papers, start + batch)):
            src = int(rng.integers(len(sample)))
            pid = f"syn-{k:07d}"
            title = f"{sample[src].title} (variant {k})"
            chunks = []
            for j in range(CHUNKS_PER_PAPER):
                picks = rng.integers(len(sentences), size=3)
                text = " ".join(sentences[int(i)] for i in picks) + f" synth{k}x{j}"
                chunks.append(
                    Chunk(
                        chunk_id=f"{pid}-{j}",
                        paper_id=pid,
                        index=j,
                        text=text,
                        start=0,
                        end=len(text),
                        title=title,
                    )
                )
            sigma = rng.uniform(0.03, 0.08, size=(CHUNKS_PER_PAPER, 1))
            vecs = base[src][None, :] + rng.normal(0.0, 1.0, (CHUNKS_PER_PAPER, 384)) * sigma
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            paper = Paper(paper_id=pid, title=title, abstract=" ".join(c.text for c in chunks))
            items.append((paper, chunks, vecs.astype(np.float32)))
        gen_s += time.perf_counter() - t0
        with build.run():
            store.write_papers(items)
        if (start // batch) % 20 == 0:
            log(f"  {min(n_papers, start + batch) * CHUNKS_PER_PAPER} chunks, {build.wall:.0f}s")
    n_chunks = store.count_chunks()

    retriever = Retriever(store, embedder)
    questions = [
        str(json.loads(line)["question"])
        for line in QUESTIONS.read_text().splitlines()
        if line.strip()
    ]
    t0 = time.perf_counter()
    retriever.search(questions[0])
    first_query_s = time.perf_counter() - t0  # includes the one-off keyword index build
    t0 = time.perf_counter()
    chunks = store.all_chunks()
    read_all_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _KeywordIndex(chunks)
    index_build_s = time.perf_counter() - t0
    del chunks
    t0 = time.perf_counter()
    for _ in range(20):  # what counting costs (searches no longer do it per query)
        store.count_chunks()
        store.count_papers()
        store.count_chunks()
    count_s = (time.perf_counter() - t0) / 20

    total: list[float] = []
    cpu: list[float] = []
    embed_t: list[float] = []
    search_t: list[float] = []
    dense_only: list[float] = []
    gated = 0
    hits = 0
    for i in range(args.queries):
        q = questions[i % len(questions)]
        # baseline on the same query: one dense Chroma query, its vector given (no embedding)
        vector = embedder.embed([q])[0]
        t0 = time.perf_counter()
        store.query(vector, retriever.candidates)
        dense_only.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.process_time()
        r = retriever.search(q)
        total.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        embed_t.append(r.timings.get("embed", 0.0))
        search_t.append(r.timings.get("retrieve", 0.0))
        gated += r.gated
        hits += len(r.hits)
    result: dict[str, Any] = {
        "benchmark": "retrieval_scale",
        "machine": info,
        "chunks": n_chunks,
        "papers": store.count_papers(),
        "store_reused": reused,
        "store_build_s": round(build.wall, 1),
        "store_build_cpu_s": round(build.cpu, 1),
        "synthetic_generation_s": round(gen_s, 1),
        "chunks_per_s": round(n_chunks / build.wall, 1) if build.wall else None,
        "read_all_chunks_s": round(read_all_s, 2),
        "keyword_index_build_s": round(index_build_s, 2),
        "first_query_s": round(first_query_s, 2),
        "count_calls_per_query_s": round(count_s, 5),
        "queries": args.queries,
        "gated": gated,
        "hits_mean": round(hits / max(1, args.queries), 2),
        "search_s": summary(total),
        "search_cpu_s": summary(cpu),
        "query_embed_s": summary(embed_t),
        "dense_plus_keyword_s": summary(search_t),
        "baseline_dense_query_s": summary(dense_only),
    }
    result["ratio_search_vs_dense_query_p50"] = round(
        result["search_s"]["p50"] / max(result["baseline_dense_query_s"]["p50"], 1e-9), 2
    )
    lines = [
        f"store: {n_chunks} chunks / {result['papers']} papers, built in {build.wall:.1f}s "
        f"({result['chunks_per_s']} chunks/s); first query {first_query_s:.1f}s = reading all "
        f"chunks {read_all_s:.1f}s + BM25 index {index_build_s:.1f}s (once per store change)",
        f"Retriever.search over {args.queries} queries: "
        f"p50 {result['search_s']['p50'] * 1000:.1f} ms, "
        f"p95 {result['search_s']['p95'] * 1000:.1f} ms (goal p95 <= 30 ms); process CPU "
        f"p50 {result['search_cpu_s']['p50'] * 1000:.1f} ms, "
        f"p95 {result['search_cpu_s']['p95'] * 1000:.1f} ms",
        f"  query embedding p50 {result['query_embed_s']['p50'] * 1000:.1f} ms; dense + keyword "
        f"p50 {result['dense_plus_keyword_s']['p50'] * 1000:.1f} ms; "
        f"{gated} gated, {result['hits_mean']} hits per query; store.count_* calls "
        f"{result['count_calls_per_query_s'] * 1000:.1f} ms per query",
        f"baseline, same queries: one dense Chroma query (vector given) p50 "
        f"{result['baseline_dense_query_s']['p50'] * 1000:.1f} ms; full search / dense query = "
        f"{result['ratio_search_vs_dense_query_p50']}x",
    ]
    emit(result, args.json, lines)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
