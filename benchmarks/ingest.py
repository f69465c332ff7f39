"""Ingest throughput against the raw embedder, measured side by side in one run.

The bundled sample (54 abstracts) is repeated with " (copy k)" appended to each title, so every
copy is a new paper, until the corpus holds at least 1,000 abstracts. Then:

  raw     MiniLMEmbedder.embed() on exactly the texts ingest embeds (each chunk's title + text),
          in one call, in this process; chunking is not timed.
  ingest  `assistant ingest corpus.jsonl --json --quiet` in a subprocess (the real CLI, cold
          start, parsing and Chroma writes included) into a fresh temporary data dir.

Goal: ingest >= 0.8 x raw (abstracts/s, wall time). The same ratio by CPU seconds is printed
too: on a shared machine other jobs move wall time a lot and CPU time much less (with
OPENBLAS_NUM_THREADS=1; multi-threaded BLAS spin-waits and inflates CPU time under load).
Run: `.venv/bin/python benchmarks/ingest.py [--json] [--repeat N]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assistant" / "data" / "hf_daily_sample.txt"
TARGET = 1000


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")
        or os.environ.get("OMP_NUM_THREADS")
        or "default (one per usable CPU)",
        "python": platform.python_version(),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_corpus(copies: int) -> list[dict[str, Any]]:
    from assistant.sources import parse_file

    sample = parse_file(SAMPLE).papers
    return [
        {
            "title": f"{p.title} (copy {k})",
            "abstract": p.abstract,
            "published": p.published.isoformat() if p.published else None,
        }
        for k in range(copies)
        for p in sample
    ]


def measure(copies: int) -> dict[str, Any]:
    from assistant.config import load_settings
    from assistant.embedding.minilm import MiniLMEmbedder
    from assistant.ingest import chunk_paper, make_splitter
    from assistant.types import Paper

    load_before = os.getloadavg()
    records = build_corpus(copies)
    papers = [Paper.build(title=r["title"], abstract=r["abstract"]) for r in records]
    assert len({p.paper_id for p in papers}) == len(papers), "copies must have distinct ids"

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data")
        embedder = MiniLMEmbedder(batch_size=settings.embed_batch_size)
        splitter = make_splitter(embedder, settings.chunk_tokens, settings.chunk_overlap)
        texts = [c.embed_text for p in papers for c in chunk_paper(p, splitter)]

        t0, c0 = time.perf_counter(), time.process_time()
        vectors = embedder.embed(texts)
        raw_s, raw_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert vectors.shape == (len(texts), embedder.dim)

        corpus = Path(tmp) / "corpus.jsonl"
        corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
        cmd = [
            str(Path(sys.executable).with_name("assistant")),
            "ingest",
            str(corpus),
            "--data-dir",
            str(settings.data_dir),
            "--json",
            "--quiet",
        ]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        t0, c0 = time.perf_counter(), _children_cpu()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        ingest_s, ingest_cpu = time.perf_counter() - t0, _children_cpu() - c0
        if proc.returncode != 0:
            raise SystemExit(f"assistant ingest failed ({proc.returncode}):\n{proc.stderr}")
        report = json.loads(proc.stdout)
    if len(report["added"]) != len(papers) or report["chunks_written"] != len(texts):
        raise SystemExit(f"ingest did not index the whole corpus: {report['added'][:3]}...")

    n = len(papers)
    raw_rate = n / raw_s
    ingest_rate = n / ingest_s
    return {
        "abstracts": n,
        "chunks": len(texts),
        "raw_embed_s": round(raw_s, 2),
        "raw_abstracts_per_s": round(raw_rate, 2),
        "raw_chunks_per_s": round(len(texts) / raw_s, 2),
        "ingest_mode": "subprocess: assistant ingest corpus.jsonl --json --quiet",
        "ingest_wall_s": round(ingest_s, 2),
        "ingest_reported_s": report["seconds"],  # inside the library: chunk + embed + write
        "ingest_abstracts_per_s": round(ingest_rate, 2),
        "ratio_ingest_to_raw": round(ingest_rate / raw_rate, 3),
        # CPU seconds are far less disturbed by other jobs on a shared machine than wall time.
        "raw_cpu_s": round(raw_cpu, 2),
        "ingest_cpu_s": round(ingest_cpu, 2),
        "ratio_by_cpu_time": round(raw_cpu / ingest_cpu, 3),
        "goal_ratio": 0.8,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        **machine(),
    }


def main(argv: list[str] | None = None) -> int:
    default = math.ceil(TARGET / 54)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--repeat",
        type=int,
        default=default,
        metavar="N",
        help=f"copies of the 54-abstract sample (default {default}, i.e. >= {TARGET} abstracts)",
    )
    args = parser.parse_args(argv)
    result = measure(args.repeat)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"corpus:  {result['abstracts']} abstracts, {result['chunks']} chunks")
    print(
        f"raw:     {result['raw_abstracts_per_s']:.2f} abstracts/s "
        f"({result['raw_chunks_per_s']:.2f} chunks/s, {result['raw_embed_s']} s)"
    )
    print(
        f"ingest:  {result['ingest_abstracts_per_s']:.2f} abstracts/s "
        f"({result['ingest_wall_s']} s wall, {result['ingest_reported_s']} s inside the library; "
        f"{result['ingest_mode']})"
    )
    print(
        f"ratio:   {result['ratio_ingest_to_raw']:.3f} by wall time (goal >= "
        f"{result['goal_ratio']}); {result['ratio_by_cpu_time']:.3f} by CPU time "
        f"(raw {result['raw_cpu_s']} s, ingest {result['ingest_cpu_s']} s)"
    )
    print(
        f"machine: {result['cpu']}; {result['cpus_usable']} usable CPUs; "
        f"BLAS threads {result['blas_threads']}; "
        f"load {result['loadavg_before']} -> {result['loadavg_after']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
