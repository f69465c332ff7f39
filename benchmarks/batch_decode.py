"""Multi-sequence batched decoding (llama.cpp's ``llama_batch``) vs sequential, same prompts.

    python benchmarks/batch_decode.py [--prompts 8] [--tokens 40] [--threads N] [--json]

The high-level llama-cpp-python API decodes one sequence at a time. This measures what the
low-level batch API would buy for TL;DR batches on this machine: ``--prompts`` TL;DR prompts of
the sample papers (our template), greedy, ``--tokens`` tokens each, fixed length so both sides
do identical work.

* sequential: one context, the fixed system prefix kept in the KV cache, each prompt's rest
  evaluated then decoded token by token;
* batched: one context with one sequence per prompt (``n_seq_max``, non-unified KV cache), the
  system prefix evaluated once and copied to every sequence, all prompt suffixes in one batch,
  then one batch per step carrying one token of every sequence.

Reports wall and CPU seconds of prefill and decode for both, the speed-up, and how many of the
greedy outputs are token-identical (batching changes floating-point reduction order).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _machine import SAMPLE, emit, log, machine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--unified", action="store_true", help="one unified KV buffer")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import llama_cpp
    from llama_cpp import _internals

    from assistant.config import Settings
    from assistant.llm.llama import LocalLLM
    from assistant.sources import parse_file
    from assistant.tldr import tldr_messages

    llm = LocalLLM(Settings(n_threads=args.threads))
    llama: Any = llm._ensure_loaded()
    info = machine(llm.n_threads)
    papers = parse_file(SAMPLE).papers[: args.prompts]
    prompts = [llm.prompt_token_ids(tldr_messages(p, llm, 60)) for p in papers]
    pre = 0
    while all(len(p) > pre and p[pre] == prompts[0][pre] for p in prompts):
        pre += 1
    n, g = len(prompts), args.tokens
    total_prompt = sum(len(p) for p in prompts)
    log(f"{n} prompts ({total_prompt} tokens, shared prefix {pre}), load {info['load_avg_start']}")

    def context(n_seq: int) -> Any:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = 2048 * n_seq
        params.n_batch = max(2048, total_prompt)
        params.n_ubatch = 512
        params.n_seq_max = n_seq
        params.kv_unified = args.unified
        params.n_threads = llm.n_threads
        params.n_threads_batch = llm.n_threads
        params.no_perf = True
        return _internals.LlamaContext(model=llama._model, params=params, verbose=False)

    batch = llama_cpp.llama_batch_init(max(2048, total_prompt), 0, 1)

    def decode(ctx: Any, seqs: list[tuple[int, list[int], int]]) -> dict[int, int]:
        """One llama_decode of (seq_id, tokens, first position); logits on each last token."""
        k = 0
        last: dict[int, int] = {}
        for sid, toks, p0 in seqs:
            for i, t in enumerate(toks):
                batch.token[k] = t
                batch.pos[k] = p0 + i
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = sid
                batch.logits[k] = i == len(toks) - 1
                if i == len(toks) - 1:
                    last[sid] = k
                k += 1
        batch.n_tokens = k
        rc = llama_cpp.llama_decode(ctx.ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        return last

    sampler = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    llama_cpp.llama_sampler_chain_add(sampler, llama_cpp.llama_sampler_init_greedy())

    def sample(ctx: Any, idx: int) -> int:
        return int(llama_cpp.llama_sampler_sample(sampler, ctx.ctx, idx))

    # sequential
    ctx = context(1)
    mem = llama_cpp.llama_get_memory(ctx.ctx)
    decode(ctx, [(0, prompts[0][:pre], 0)])
    seq_out: list[list[int]] = []
    t = {"prefill_wall": 0.0, "prefill_cpu": 0.0, "decode_wall": 0.0, "decode_cpu": 0.0}
    for p in prompts:
        llama_cpp.llama_memory_seq_rm(mem, 0, pre, -1)
        w0, c0 = time.perf_counter(), time.process_time()
        idx = decode(ctx, [(0, p[pre:], pre)])[0]
        w1, c1 = time.perf_counter(), time.process_time()
        out: list[int] = []
        pos = len(p)
        for _ in range(g):
            tok = sample(ctx, idx)
            out.append(tok)
            idx = decode(ctx, [(0, [tok], pos)])[0]
            pos += 1
        seq_out.append(out)
        t["prefill_wall"] += w1 - w0
        t["prefill_cpu"] += c1 - c0
        t["decode_wall"] += time.perf_counter() - w1
        t["decode_cpu"] += time.process_time() - c1
    ctx.close()

    # batched
    ctx = context(n)
    mem = llama_cpp.llama_get_memory(ctx.ctx)
    decode(ctx, [(0, prompts[0][:pre], 0)])
    for s in range(1, n):
        llama_cpp.llama_memory_seq_cp(mem, 0, s, -1, -1)
    b = {"prefill_wall": 0.0, "prefill_cpu": 0.0, "decode_wall": 0.0, "decode_cpu": 0.0}
    w0, c0 = time.perf_counter(), time.process_time()
    last = decode(ctx, [(s, p[pre:], pre) for s, p in enumerate(prompts)])
    w1, c1 = time.perf_counter(), time.process_time()
    positions = [len(p) for p in prompts]
    bat_out: list[list[int]] = [[] for _ in prompts]
    for _ in range(g):
        step = []
        for s in range(n):
            tok = sample(ctx, last[s])
            bat_out[s].append(tok)
            step.append((s, [tok], positions[s]))
            positions[s] += 1
        last = decode(ctx, step)
    b["prefill_wall"], b["prefill_cpu"] = w1 - w0, c1 - c0
    b["decode_wall"], b["decode_cpu"] = time.perf_counter() - w1, time.process_time() - c1
    ctx.close()
    llama_cpp.llama_sampler_free(sampler)
    llama_cpp.llama_batch_free(batch)

    def total(d: dict[str, float], kind: str) -> float:
        return d[f"prefill_{kind}"] + d[f"decode_{kind}"]

    identical = sum(a == c for a, c in zip(seq_out, bat_out, strict=True))
    first_diff = [
        next((i for i, (x, y) in enumerate(zip(a, c, strict=True)) if x != y), g)
        for a, c in zip(seq_out, bat_out, strict=True)
    ]
    result: dict[str, Any] = {
        "benchmark": "batch_decode",
        "machine": info,
        "prompts": n,
        "prompt_tokens": total_prompt,
        "shared_prefix": pre,
        "tokens_each": g,
        "kv_unified": args.unified,
        "sequential": {k: round(v, 3) for k, v in t.items()},
        "batched": {k: round(v, 3) for k, v in b.items()},
        "speedup_wall": round(total(t, "wall") / total(b, "wall"), 3),
        "speedup_cpu": round(total(t, "cpu") / total(b, "cpu"), 3),
        "speedup_decode_cpu": round(t["decode_cpu"] / b["decode_cpu"], 3),
        "speedup_prefill_cpu": round(t["prefill_cpu"] / b["prefill_cpu"], 3),
        "identical_outputs": identical,
        "first_divergence": first_diff,
    }
    lines = [
        f"{n} TL;DR prompts ({total_prompt} tokens, {pre} shared), {g} greedy tokens each, "
        f"KV {'unified' if args.unified else 'per sequence'}",
        f"sequential: prefill {t['prefill_wall']:.1f}s wall / {t['prefill_cpu']:.1f}s cpu, "
        f"decode {t['decode_wall']:.1f}s / {t['decode_cpu']:.1f}s",
        f"batched   : prefill {b['prefill_wall']:.1f}s wall / {b['prefill_cpu']:.1f}s cpu, "
        f"decode {b['decode_wall']:.1f}s / {b['decode_cpu']:.1f}s",
        f"speed-up: {result['speedup_wall']}x wall, {result['speedup_cpu']}x cpu "
        f"(prefill {result['speedup_prefill_cpu']}x, decode {result['speedup_decode_cpu']}x cpu)",
        f"identical greedy outputs: {identical}/{n}; first differing token: {first_diff}",
    ]
    emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
