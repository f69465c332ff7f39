"""KV-prefix reuse: what the fixed, byte-identical system part of our prompts saves per call.

    python benchmarks/kv_prefix.py [--prompts 12] [--threads N] [--json]

For TL;DR prompts of the sample papers and answer prompts of fixture questions (our templates,
rendered by ``LocalLLM``), each prompt is generated (1 token) twice, interleaved:

* miss: the KV cache is cleared first, so the whole prompt is evaluated;
* hit:  the previous call left a prompt of the same template in the cache, so llama-cpp-python
  keeps the shared prefix (the system turn) and evaluates only the rest.

It checks that the system part tokenises to the same leading tokens in every prompt (the shared
prefix length in tokens) and reports tokens evaluated and prefill seconds (wall and CPU) of both.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from _machine import ROOT, SAMPLE, emit, log, machine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from assistant import prompting
    from assistant.config import Settings
    from assistant.llm.llama import LocalLLM
    from assistant.llm.stream import common_prefix
    from assistant.sources import parse_file

    llm = LocalLLM(Settings(n_threads=args.threads))
    llm.load()
    info = machine(llm.n_threads)
    papers = parse_file(SAMPLE).papers
    rows = (ROOT / "evals" / "fixtures" / "qa_answerable.jsonl").read_text().splitlines()
    questions = [str(json.loads(r)["question"]) for r in rows if r.strip()]
    sets: dict[str, list[Any]] = {
        "tldr": [
            prompting.split_system_user("tldr", title=p.title, abstract=p.abstract, lead="")
            for p in papers[: args.prompts]
        ],
        "answer": [
            prompting.split_system_user(
                "answer",
                sources="\n\n".join(
                    f"[{j + 1}] {p.title}\n{p.abstract[:400]}"
                    for j, p in enumerate(papers[i : i + 3])
                ),
                question=questions[i % len(questions)],
            )
            for i in range(args.prompts)
        ],
    }
    log(f"{args.prompts} prompts per template, load {info['load_avg_start']}")
    result: dict[str, Any] = {"benchmark": "kv_prefix", "machine": info}
    lines = []
    for name, prompts in sets.items():
        ids = [llm.prompt_token_ids(m) for m in prompts]
        shared = min(common_prefix(ids[0], x) for x in ids[1:])
        system_tokens = llm.count_tokens(prompts[0][0]["content"])
        side = {k: {"wall": 0.0, "cpu": 0.0, "evaluated": 0} for k in ("miss", "hit")}
        for i, messages in enumerate(prompts):
            for kind in ("miss", "hit") if i % 2 == 0 else ("hit", "miss"):
                # prime: a different prompt of the same template, or an empty cache
                llm._llama.reset()
                if kind == "hit":
                    llm.generate(prompts[i - 1], max_tokens=1)
                llm.stats.reset()
                w0, c0 = time.perf_counter(), time.process_time()
                llm.generate(messages, max_tokens=1)
                side[kind]["wall"] += time.perf_counter() - w0
                side[kind]["cpu"] += time.process_time() - c0
                side[kind]["evaluated"] += llm.stats.evaluated_prompt_tokens
        total = sum(len(x) for x in ids)
        result[name] = {
            "prompt_tokens_mean": round(total / len(ids), 1),
            "system_tokens": system_tokens,
            "shared_prefix_tokens": shared,
            "miss": {k: round(v, 3) for k, v in side["miss"].items()},
            "hit": {k: round(v, 3) for k, v in side["hit"].items()},
            "saved_wall_pct": round(100 * (1 - side["hit"]["wall"] / side["miss"]["wall"]), 1),
            "saved_cpu_pct": round(100 * (1 - side["hit"]["cpu"] / side["miss"]["cpu"]), 1),
        }
        r = result[name]
        lines.append(
            f"{name}: {r['prompt_tokens_mean']:.0f} prompt tokens, shared prefix "
            f"{shared} tokens (system text {system_tokens}); evaluated "
            f"{side['miss']['evaluated']} (miss) vs {side['hit']['evaluated']} (hit); prefill "
            f"{side['miss']['wall']:.2f}s vs {side['hit']['wall']:.2f}s wall, "
            f"{side['miss']['cpu']:.2f}s vs {side['hit']['cpu']:.2f}s cpu: "
            f"saves {r['saved_wall_pct']}% wall, {r['saved_cpu_pct']}% cpu"
        )
    emit(result, args.json, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
