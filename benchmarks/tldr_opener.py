"""TL;DR reply openers side by side: how often the first (greedy) candidate passes the gate.

    python benchmarks/tldr_opener.py [--papers 54] [--json]

Each sample paper's TL;DR prompt is completed once, greedily, with each opener in turn (papers
in rotation): no opener (the model starts its reply itself), "This paper", and the shipped
template's opener ("<Name> is" when the title leads with a one-word name, else "This paper").
Every candidate goes through the real gate (``tldr.judge_candidate``: one sentence, length,
title, grounding). A candidate that fails costs a retry, so the first-attempt pass rate drives
TL;DR throughput; "names the paper" counts candidates containing the title's lead name (for
papers that have one).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from _machine import SAMPLE, Clock, emit, log, machine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=54)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from assistant.config import Settings
    from assistant.service import Assistant
    from assistant.sources import parse_file
    from assistant.tldr import (
        SENTENCE_STOPS,
        clean_candidate,
        clean_paper,
        continue_opener,
        judge_candidate,
        paper_name,
        tldr_messages,
    )
    from vectorstore.chroma import ChromaStore

    papers = [clean_paper(p) for p in parse_file(SAMPLE).papers[: args.papers]]
    tmp = tempfile.TemporaryDirectory(prefix="bench-opener-")
    asst = Assistant(Settings(data_dir=Path(tmp.name)), store=ChromaStore(None, "bench-opener"))
    llm: Any = asst.llm
    llm.load()
    cfg = asst.tldr_config()
    info = machine(llm.n_threads)

    def opener_of(kind: str, shipped: str) -> str:
        return {"none": "", "this paper": "This paper", "shipped": shipped}[kind]

    kinds = ["none", "this paper", "shipped"]
    passed = dict.fromkeys(kinds, 0)
    named = dict.fromkeys(kinds, 0)
    tokens = dict.fromkeys(kinds, 0)
    clocks = {k: Clock() for k in kinds}
    with_name = 0
    for i, paper in enumerate(papers):
        messages = tldr_messages(paper, llm, cfg.max_tokens)
        shipped = messages[-1]["content"]
        prompt = llm.render_prompt(messages[:-1])
        name = paper_name(paper.title)
        with_name += bool(name)
        for kind in kinds[i % 3 :] + kinds[: i % 3]:
            opener = opener_of(kind, shipped)
            with clocks[kind].run():
                gen = llm.generate_raw_prompt(
                    prompt + opener, max_tokens=cfg.max_tokens, stop=SENTENCE_STOPS
                )
                candidate = clean_candidate(continue_opener(opener, gen.text), paper.title)
                ok = judge_candidate(candidate, paper, cfg, asst.embedder)[0]
            passed[kind] += ok
            named[kind] += bool(name) and name in candidate
            tokens[kind] += gen.completion_tokens
        log(f"paper {i + 1}/{len(papers)}: " + ", ".join(f"{k} {passed[k]}" for k in kinds))
    n = len(papers)
    result: dict[str, Any] = {
        "benchmark": "tldr_opener",
        "machine": info,
        "papers": n,
        "papers_with_lead_name": with_name,
        "openers": {
            k: {
                "first_attempt_pass_rate": round(passed[k] / n, 3),
                "names_the_paper": named[k],
                "completion_tokens": tokens[k],
            }
            | clocks[k].as_dict()
            for k in kinds
        },
    }
    lines = [
        f"{k:11s} first greedy candidate passes {passed[k]}/{n}, names the paper "
        f"{named[k]}/{with_name}, {tokens[k]} tokens, {clocks[k].wall:.1f}s"
        for k in kinds
    ]
    emit(result, args.json, lines)
    asst.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
