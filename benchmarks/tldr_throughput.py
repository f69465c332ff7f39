"""TL;DR throughput: our batch pipeline vs a naive create_chat_completion loop, side by side.

    python benchmarks/tldr_throughput.py [--papers 54] [--threads N] [--block 9] [--json]

* **ours**: ``Assistant.tldrs`` over the sample papers (real model and embedder): generation,
  the grounding gate, retries and the extractive fallback, nothing persisted.
* **naive**: what a user writes by hand: a second ``llama_cpp.Llama`` on the GGUF as shipped
  (same n_ctx, n_batch, threads, llama.cpp's other defaults) and a loop of
  ``create_chat_completion`` over our TL;DR template filled with the title and the whole
  sanitised abstract, temperature 0 and the same max_tokens and ``\\n`` stop. Building those
  messages is not timed for the naive side.
* **naive, our runtime**: the same loop on the file and settings our pipeline runs (the Q8_0
  re-encoding and flash attention), so the pipeline's own gain is visible apart from the
  runtime's (``--no-naive-runtime`` skips it).
* **raw**: the exact tokens our pipeline evaluated and sampled (recorded by
  ``LocalLLM.trace``), replayed through llama.cpp's low-level API (benchmarks/replay.py). The
  ratio ours/raw is the overhead of everything that is not llama.cpp work.

The papers are processed in blocks; within each block the three run back to back (the order of
ours and naive alternating), so load drift on a shared machine hits all sides alike. Wall and
process CPU seconds are both reported; the grounding pass rate of both outputs is measured with
``assistant.grounding.judge.score_support`` against each paper's title and abstract.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from _machine import SAMPLE, Clock, emit, load_average, log, machine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=54, help="papers from the sample (max 54)")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: ours)")
    ap.add_argument("--block", type=int, default=9, help="papers per side-by-side block")
    ap.add_argument(
        "--source-tokens",
        type=int,
        default=None,
        help="our tldr_source_tokens (default: the setting's default; 0 = whole abstracts)",
    )
    ap.add_argument("--no-raw", action="store_true", help="skip the low-level replay")
    ap.add_argument("--no-naive-runtime", action="store_true", help="skip naive on our runtime")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    from assistant import grounding
    from assistant.config import Settings
    from assistant.injection import sanitize_source
    from assistant.service import Assistant
    from assistant.sources import parse_file
    from assistant.tldr import clean_candidate, judge_candidate, tldr_messages
    from vectorstore.chroma import ChromaStore

    papers = parse_file(SAMPLE).papers[: args.papers]
    tmp = tempfile.TemporaryDirectory(prefix="bench-tldr-")
    extra = {} if args.source_tokens is None else {"tldr_source_tokens": args.source_tokens}
    settings = Settings(data_dir=Path(tmp.name), n_threads=args.threads, **extra)
    asst = Assistant(settings, store=ChromaStore(None, "bench-tldr"))
    llm: Any = asst.llm
    info = machine(llm.n_threads)
    log(f"loading model and embedder ({llm.n_threads} threads, load {info['load_avg_start']})")
    llm.load()
    embedder = asst.embedder
    embedder.embed(["warm up"])
    cfg = asst.tldr_config()

    from llama_cpp import Llama

    def make_llama(path: Path, **extra: Any) -> Any:
        """A plain llama_cpp.Llama with our context settings: what a user would construct."""
        return Llama(
            model_path=str(path),
            n_ctx=settings.n_ctx,
            n_batch=min(settings.n_batch, settings.n_ctx),
            n_threads=llm.n_threads,
            n_threads_batch=llm.n_threads,
            seed=settings.seed,
            verbose=False,
            **extra,
        )

    naive_llama = make_llama(llm.model_path)
    runtime = llm.runtime
    naive_rt_llama = None
    if not args.no_naive_runtime and runtime is not None and runtime.path != llm.model_path:
        naive_rt_llama = make_llama(runtime.path, flash_attn=settings.flash_attn)
    replayer = None
    if not args.no_raw:
        from replay import Replayer

        replayer = Replayer(
            llm._llama,
            n_ctx=settings.n_ctx,
            n_batch=min(settings.n_batch, settings.n_ctx),
            n_threads=llm.n_threads,
            flash_attn=settings.flash_attn,
        )

    clean = [
        p.model_copy(update={"abstract": sanitize_source(p.abstract) or p.title}) for p in papers
    ]
    # The naive loops send our template without the reply opener (our own technique).
    messages = [
        [m for m in tldr_messages(p, llm, cfg.max_tokens) if m["role"] != "assistant"]
        for p in clean
    ]
    ours_clock, naive_clock, raw_clock, naive_rt_clock = Clock(), Clock(), Clock(), Clock()
    ours_out: list[Any] = []
    naive_out: list[str] = []
    naive_rt_out: list[str] = []
    naive_prompt_tokens: list[int] = []
    llm.stats.reset()
    llm.trace = []
    for b, start in enumerate(range(0, len(papers), args.block)):
        block = papers[start : start + args.block]
        idx = range(start, start + len(block))

        def run_ours(block: list[Any] = block) -> None:
            with ours_clock.run():
                ours_out.extend(asst.tldrs(block, persist=False))

        def naive_loop(
            model: Any, idx: range, clock: Clock, out: list[str], tokens: list[int] | None
        ) -> None:
            with clock.run():
                for i in idx:
                    resp: Any = model.create_chat_completion(
                        messages=messages[i],
                        max_tokens=cfg.max_tokens,
                        temperature=0.0,
                        stop=["\n"],
                    )
                    out.append(str(resp["choices"][0]["message"]["content"] or ""))
                    if tokens is not None:
                        tokens.append(int(resp["usage"]["prompt_tokens"]))

        def run_naive(idx: range = idx) -> None:
            naive_loop(naive_llama, idx, naive_clock, naive_out, naive_prompt_tokens)

        def run_naive_rt(idx: range = idx) -> None:
            if naive_rt_llama is not None:
                naive_loop(naive_rt_llama, idx, naive_rt_clock, naive_rt_out, None)

        sides = [run_ours, run_naive, run_naive_rt]
        for side in sides if b % 2 == 0 else sides[::-1]:
            side()
        if replayer is not None:
            entries, llm.trace = llm.trace, []
            with raw_clock.run():
                replayer.replay(entries)
        log(
            f"block {b + 1}: {len(ours_out)}/{len(papers)} papers; wall/cpu s: ours "
            f"{ours_clock.wall:.1f}/{ours_clock.cpu:.1f}, naive {naive_clock.wall:.1f}/"
            f"{naive_clock.cpu:.1f}, raw {raw_clock.wall:.1f}/{raw_clock.cpu:.1f}; "
            f"calls {llm.stats.calls}, load {load_average()}"
        )
    stats = llm.stats

    def grounded(text: str, paper: Any) -> tuple[bool, float]:
        s = grounding.score_support(
            text, [f"{paper.title}\n{paper.abstract}"], embedder=embedder, threshold=cfg.threshold
        )
        return s.supported, s.score

    ours_grounded = [grounded(t.tldr, p) for t, p in zip(ours_out, clean, strict=True)]
    naive_grounded = [grounded(t.strip(), p) for t, p in zip(naive_out, clean, strict=True)]
    naive_gate = [
        judge_candidate(clean_candidate(t, p.title), p, cfg, embedder)[0]
        for t, p in zip(naive_out, clean, strict=True)
    ]
    naive_rt_gate = [
        judge_candidate(clean_candidate(t, p.title), p, cfg, embedder)[0]
        for t, p in zip(naive_rt_out, clean, strict=False)
    ]
    naive_prompt_tokens_ours = [llm.prompt_tokens(m) for m in messages]
    n = len(papers)

    def rate(flags: list[bool]) -> float:
        return round(sum(flags) / max(1, len(flags)), 3)

    ours_per_min = 60.0 * n / ours_clock.wall if ours_clock.wall else 0.0
    naive_per_min = 60.0 * n / naive_clock.wall if naive_clock.wall else 0.0
    result: dict[str, Any] = {
        "benchmark": "tldr_throughput",
        "machine": info,
        "papers": n,
        "block": args.block,
        "ours_source_tokens": settings.tldr_source_tokens,
        "ours": ours_clock.as_dict()
        | {
            "tldrs_per_min": round(ours_per_min, 2),
            "grounded_rate": rate([g for g, _ in ours_grounded]),
            "generated": sum(t.method == "generated" for t in ours_out),
            "extractive": sum(t.method == "extractive" for t in ours_out),
            "model_calls": stats.calls,
            "prompt_tokens": stats.prompt_tokens,
            "kv_reused_tokens": stats.reused_tokens,
            "kv_reuse_share": round(stats.reused_tokens / max(1, stats.prompt_tokens), 3),
            "completion_tokens": stats.completion_tokens,
            "repetition_stops": stats.repetition_stops,
            "prefill_s": round(stats.prefill_s, 3),
            "decode_s": round(stats.decode_s, 3),
        },
        "naive": naive_clock.as_dict()
        | {
            "tldrs_per_min": round(naive_per_min, 2),
            "grounded_rate": rate([g for g, _ in naive_grounded]),
            "passes_our_gate_rate": rate(naive_gate),
            "prompt_token_parity": sum(
                a == b for a, b in zip(naive_prompt_tokens_ours, naive_prompt_tokens, strict=True)
            ),
        },
        "ratio_ours_vs_naive": round(naive_clock.wall / ours_clock.wall, 3)
        if ours_clock.wall
        else None,
        "ratio_cpu_ours_vs_naive": round(naive_clock.cpu / ours_clock.cpu, 3)
        if ours_clock.cpu
        else None,
        "examples": [
            {"title": p.title[:60], "ours": t.tldr, "method": t.method, "naive": nv.strip()}
            for p, t, nv in list(zip(clean, ours_out, naive_out, strict=True))[:5]
        ],
    }
    extra_lines: list[str] = []
    if naive_rt_llama is not None:
        rt_per_min = 60.0 * n / naive_rt_clock.wall if naive_rt_clock.wall else 0.0
        result["naive_runtime"] = naive_rt_clock.as_dict() | {
            "tldrs_per_min": round(rt_per_min, 2),
            "passes_our_gate_rate": rate(naive_rt_gate),
            "grounded_rate": rate(
                [grounded(t.strip(), p)[0] for t, p in zip(naive_rt_out, clean, strict=True)]
            ),
        }
        result["ratio_ours_vs_naive_runtime"] = (
            round(naive_rt_clock.wall / ours_clock.wall, 3) if ours_clock.wall else None
        )
        extra_lines.append(
            f"naive on our runtime file + flash attention: {naive_rt_clock.wall:.1f}s wall "
            f"{rt_per_min:.1f} TL;DRs/min (passes our gate "
            f"{result['naive_runtime']['passes_our_gate_rate']:.0%}); ratio ours vs it "
            f"{result['ratio_ours_vs_naive_runtime']}x"
        )
    if replayer is not None:
        result["raw"] = raw_clock.as_dict() | {
            "evaluated_tokens": replayer.evaluated,
            "sampled_tokens": replayer.sampled,
        }
        result["overhead_vs_raw_pct"] = round(100.0 * (ours_clock.wall / raw_clock.wall - 1), 1)
        result["overhead_cpu_vs_raw_pct"] = round(100.0 * (ours_clock.cpu / raw_clock.cpu - 1), 1)
        replayer.close()
    lines = [
        f"papers: {n}, blocks of {args.block}",
        f"ours : {ours_clock.wall:7.1f}s wall {ours_clock.cpu:7.1f}s cpu  "
        f"{ours_per_min:6.1f} TL;DRs/min  grounded {result['ours']['grounded_rate']:.0%}  "
        f"({result['ours']['generated']} generated, {result['ours']['extractive']} extractive, "
        f"{stats.calls} model calls, KV reuse {result['ours']['kv_reuse_share']:.0%})",
        f"naive: {naive_clock.wall:7.1f}s wall {naive_clock.cpu:7.1f}s cpu  "
        f"{naive_per_min:6.1f} TL;DRs/min  grounded {result['naive']['grounded_rate']:.0%}  "
        f"(passes our gate {result['naive']['passes_our_gate_rate']:.0%})",
        f"ratio ours vs naive: {result['ratio_ours_vs_naive']}x wall, "
        f"{result['ratio_cpu_ours_vs_naive']}x cpu (goal >= 1.5x)",
        *extra_lines,
    ]
    if replayer is not None:
        lines.append(
            f"raw llama.cpp replay of our tokens: {raw_clock.wall:.1f}s wall "
            f"{raw_clock.cpu:.1f}s cpu; overhead {result['overhead_vs_raw_pct']}% wall, "
            f"{result['overhead_cpu_vs_raw_pct']}% cpu (goal <= 10%)"
        )
    emit(result, args.json, lines)
    asst.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
