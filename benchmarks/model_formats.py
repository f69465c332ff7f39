"""Weight encodings of the bundled model, side by side: prompt and decode speed, and agreement.

    python benchmarks/model_formats.py [--papers 10] [--formats q8_0,f16,q4_0] [--json]

The bundled SmolLM2 GGUF (Q4_1) is converted into a temporary dir to each format with
llama.cpp's own quantizer (the path ``model_runtime`` takes). For each variant, with and without
flash attention, every sample abstract is evaluated as a TL;DR-sized prompt (prefill tokens/s),
then 30 tokens are decoded greedily (decode tokens/s). Variants run paper by paper in rotation,
so load drift hits them alike. ``agreement`` is the share of papers whose 30 greedy tokens equal
those of the file as shipped without flash attention (a 135M model's greedy text flips on tiny
numeric differences, so this says "same arithmetic", not "same quality": the eval decides that).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import SAMPLE, emit, log, machine

DECODE = 30


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=10)
    ap.add_argument("--formats", default="q8_0,f16,q4_0", help="targets besides the shipped file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from llama_cpp import Llama

    from assistant.files import cpu_threads
    from assistant.llm.files import default_model_path
    from assistant.llm.llama import llama_convert
    from assistant.sources import parse_file

    papers = parse_file(SAMPLE).papers[: args.papers]
    source = default_model_path()
    tmp = tempfile.TemporaryDirectory(prefix="bench-formats-")
    files = {"q4_1 (shipped)": source}
    for kind in [f for f in args.formats.split(",") if f]:
        t0 = time.perf_counter()
        files[kind] = Path(tmp.name) / f"{kind}.gguf"
        llama_convert(source, files[kind], kind)
        log(f"converted to {kind} in {time.perf_counter() - t0:.1f}s")
    threads = cpu_threads()
    variants: dict[str, Any] = {}
    for name, path in files.items():
        for fa in (False, True):
            label = f"{name}{' + flash attn' if fa else ''}"
            variants[label] = Llama(
                model_path=str(path),
                n_ctx=2048,
                n_threads=threads,
                n_threads_batch=threads,
                flash_attn=fa,
                verbose=False,
            )
    prefill: dict[str, list[float]] = {k: [] for k in variants}
    decode: dict[str, list[float]] = {k: [] for k in variants}
    outputs: dict[str, list[list[int]]] = {k: [] for k in variants}
    order = list(variants)
    for i, p in enumerate(papers):
        text = (
            f"<|im_start|>user\nTitle: {p.title}\nAbstract: {p.abstract}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )
        for label in order[i % len(order) :] + order[: i % len(order)]:
            llm = variants[label]
            tokens = llm.tokenize(text.encode(), special=True)
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(tokens)
            prefill[label].append(len(tokens) / (time.perf_counter() - t0))
            out: list[int] = []
            t0 = time.perf_counter()
            for _ in range(DECODE):
                token = int(llm.sample(temp=0.0))
                out.append(token)
                llm.eval([token])
            decode[label].append(DECODE / (time.perf_counter() - t0))
            outputs[label].append(out)
        log(f"paper {i + 1}/{len(papers)}")
    base = order[0]
    rows = {
        label: {
            "prefill_tok_s_p50": round(statistics.median(prefill[label]), 1),
            "decode_tok_s_p50": round(statistics.median(decode[label]), 1),
            "file_mb": round(files[label.split(" + ")[0]].stat().st_size / 2**20, 1),
            "agreement_with_shipped": round(
                sum(a == b for a, b in zip(outputs[label], outputs[base], strict=True))
                / len(papers),
                2,
            ),
        }
        for label in order
    }
    for llm in variants.values():
        llm.close()
    tmp.cleanup()
    result = {"benchmark": "model_formats", "machine": machine(threads), "papers": len(papers)}
    result["variants"] = rows
    ref = rows[base]["prefill_tok_s_p50"]
    lines = [f"{'variant':32s} prefill tok/s  decode tok/s  MB    same greedy text"]
    for label, r in rows.items():
        lines.append(
            f"{label:32s} {r['prefill_tok_s_p50']:7.1f} ({r['prefill_tok_s_p50'] / ref:4.2f}x)"
            f"  {r['decode_tok_s_p50']:7.1f}  {r['file_mb']:6.1f}  "
            f"{r['agreement_with_shipped']:.0%}"
        )
    emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
