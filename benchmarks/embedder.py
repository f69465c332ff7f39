"""The embedder's two encoders side by side: onnxruntime (the default) vs numpy (the fallback).

    python benchmarks/embedder.py [--repeat 3] [--json]

Same process, same texts, the two runs alternating ``--repeat`` times (medians reported):

* **judge sentences**: every sentence of the 54 sample abstracts (what a TL;DR batch embeds for
  the grounding check), in one call;
* **chunks**: the sample's chunks as ingest embeds them (title + chunk text), in one call;
* **queries**: 100 single short texts, one call each (what a question costs).

Also prints the smallest cosine between the two encoders' vectors: they must agree to float
rounding, or stores and grounding decisions would depend on which encoder ran.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import SAMPLE, emit, log, machine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs per encoder")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    import numpy as np

    from assistant import grounding
    from assistant.embedding.minilm import MiniLMEmbedder
    from assistant.ingest import chunk_paper, make_splitter
    from assistant.sources import parse_file
    from assistant.tldr import clean_paper, judge_source

    info = machine()
    papers = parse_file(SAMPLE).papers
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        t0 = time.perf_counter()
        onnx = MiniLMEmbedder(cache_dir=Path(tmp))
        build_s = time.perf_counter() - t0
        numpy_ = MiniLMEmbedder(runtime="numpy")
        if onnx.runtime != "onnx":
            raise SystemExit(f"onnxruntime is not available: {onnx.runtime_note}")
        sentences = list(
            dict.fromkeys(
                s for p in papers for s in grounding.split_sentences(judge_source(clean_paper(p)))
            )
        )
        splitter = make_splitter(numpy_, 96, 16)
        chunks = [f"{c.title}\n{c.text}" for p in papers for c in chunk_paper(p, splitter)]
        queries = [s[:80] for s in sentences[:100]]
        encoders = {"onnx": onnx, "numpy": numpy_}
        for e in encoders.values():
            e.embed(["warm up"])

        times: dict[str, dict[str, list[float]]] = {k: {} for k in encoders}
        for r in range(args.repeat):
            log(f"round {r + 1}/{args.repeat}")
            for name, e in encoders.items():
                for case, texts in (("judge_sentences", sentences), ("chunks", chunks)):
                    t = time.perf_counter()
                    e.embed(texts)
                    times[name].setdefault(case, []).append(time.perf_counter() - t)
                t = time.perf_counter()
                for q in queries:
                    e.embed([q])
                times[name].setdefault("query", []).append((time.perf_counter() - t) / len(queries))
        a, b = onnx.embed(sentences), numpy_.embed(sentences)
        min_cos = float((a * b).sum(axis=1).min())

    med = {k: {c: statistics.median(v) for c, v in d.items()} for k, d in times.items()}
    result: dict[str, Any] = {
        "benchmark": "embedder",
        "machine": info,
        "texts": {"judge_sentences": len(sentences), "chunks": len(chunks), "queries": 100},
        "onnx_graph_build_s": round(build_s, 2),
        "onnx_note": onnx.runtime_note,
        "seconds_median": {k: {c: round(v, 4) for c, v in d.items()} for k, d in med.items()},
        "ratio_numpy_over_onnx": {
            c: round(med["numpy"][c] / med["onnx"][c], 2) for c in med["onnx"]
        },
        "min_cosine_onnx_vs_numpy": round(min_cos, 7),
        "agree": bool(np.isfinite(min_cos) and min_cos > 0.99999),
    }
    lines = [
        f"{c:16s} onnx {med['onnx'][c] * (1000 if c == 'query' else 1):8.2f}"
        f"{' ms' if c == 'query' else ' s '}  numpy "
        f"{med['numpy'][c] * (1000 if c == 'query' else 1):8.2f}"
        f"{' ms' if c == 'query' else ' s '}  ratio {result['ratio_numpy_over_onnx'][c]}x"
        for c in med["onnx"]
    ]
    lines.append(f"graph built in {build_s:.2f} s; min cosine onnx vs numpy {min_cos:.7f}")
    emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
