"""What the grounding check embeds, side by side: the exact bound vs every sentence, and packed
vs padded small calls.

    python benchmarks/judge_embedding.py [--repeat 3] [--json]

Same process, real embedder (onnxruntime), the two variants alternating ``--repeat`` times
(medians reported); no model is needed:

* **judge**: claims judged against title + abstract as a TL;DR batch does (one memo per paper),
  in two sets: *on-topic* (per sample paper, its extractive TL;DR and the first half of its
  first sentence: like the model's TL;DRs, which mostly pass) and *off-topic* (per paper, a
  sentence of another paper: mostly unsupported). Ours embeds only the sentences that can
  change the verdict; the baseline (``grounding.PRUNE = False``) embeds all of them. The bound
  helps when some sentence matches the claim well, so it saves little on off-topic claims. The
  verdicts must be identical, field for field. A third variant runs the judge without its
  structure checks (``grounding.judge.STRUCTURE = False``, the lexical judge of 2026-12-01):
  the ratio is what the structure checks cost per claim.
* **small calls**: every judge sentence of the sample embedded 3 texts per call, with texts
  packed into shared rows (ours) vs each padded to the longest of its call; and the same texts in
  one bulk call (not packed either way: a check that the bulk path did not change).
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
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs per variant")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)

    from assistant import grounding
    from assistant.embedding import minilm as embed
    from assistant.embedding.minilm import MiniLMEmbedder
    from assistant.grounding.extractive import pick_extractive_tldr
    from assistant.sources import parse_file
    from assistant.tldr import clean_paper, judge_source

    info = machine()
    papers = [clean_paper(p) for p in parse_file(SAMPLE).papers]
    sets: dict[str, list[tuple[str, list[str]]]] = {"on_topic": [], "off_topic": []}
    for i, p in enumerate(papers):
        first = grounding.split_sentences(p.abstract)[0].split()
        other = grounding.split_sentences(papers[(i + 7) % len(papers)].abstract)[-1]
        on_topic = [
            pick_extractive_tldr(p.title, p.abstract, 30),
            " ".join(first[: max(6, len(first) // 2)]) + ".",
        ]
        sets["on_topic"].append((judge_source(p), on_topic))
        sets["off_topic"].append((judge_source(p), [other]))
    sentences = list(
        dict.fromkeys(s for p in papers for s in grounding.split_sentences(judge_source(p)))
    )

    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        embedder = MiniLMEmbedder(cache_dir=Path(tmp))
        embedder.embed(["warm up"])

        class Counting:
            name, dim = embedder.name, embedder.dim
            texts = 0

            def embed(self, texts: Any) -> Any:
                Counting.texts += len(texts)
                return embedder.embed(texts)

            def count_tokens(self, text: str) -> int:
                return embedder.count_tokens(text)

        def judge(
            cases: list[tuple[str, list[str]]], prune: bool, structure: bool = True
        ) -> tuple[float, int, list[Any]]:
            grounding.judge.PRUNE, grounding.judge.STRUCTURE = prune, structure
            Counting.texts = 0
            t = time.perf_counter()
            out = []
            for source, claims in cases:
                memo = grounding.CachingEmbedder(Counting())
                out += [grounding.score_support(c, [source], embedder=memo) for c in claims]
            return time.perf_counter() - t, Counting.texts, [s.model_dump() for s in out]

        def small_calls(pack: int, size: int) -> float:
            embed.PACK_TOKENS = pack
            t = time.perf_counter()
            for i in range(0, len(sentences), size):
                embedder.embed(sentences[i : i + size])
            return time.perf_counter() - t

        pack = embed.PACK_TOKENS
        times: dict[str, list[float]] = {}
        counts: dict[str, int] = {}
        verdicts: dict[str, list[Any]] = {}
        try:
            for r in range(args.repeat):
                log(f"round {r + 1}/{args.repeat}")
                for kind, cases in sets.items():
                    for way, prune, structure in (
                        ("ours", True, True),
                        ("all_sentences", False, True),
                        ("lexical_judge", True, False),  # the judge before the structure checks
                    ):
                        name = f"{kind}_{way}"
                        s, n, v = judge(cases, prune, structure)
                        times.setdefault(name, []).append(s)
                        counts[name], verdicts[name] = n, v
                for name, rows, size in (
                    ("calls_of_3_packed", pack, 3),
                    ("calls_of_3_padded", 0, 3),
                    ("one_bulk_call", pack, len(sentences)),
                ):
                    times.setdefault(name, []).append(small_calls(rows, size))
        finally:
            grounding.judge.PRUNE, embed.PACK_TOKENS = True, pack
            grounding.judge.STRUCTURE = True

    med = {k: round(statistics.median(v), 3) for k, v in times.items()}
    same = all(verdicts[f"{k}_ours"] == verdicts[f"{k}_all_sentences"] for k in sets)
    result: dict[str, Any] = {
        "benchmark": "judge_embedding",
        "machine": info | {"embedder": embedder.runtime_note},
        "papers": len(papers),
        "claims": {k: sum(len(c) for _, c in v) for k, v in sets.items()},
        "supported": {k: sum(v["supported"] for v in verdicts[f"{k}_ours"]) for k in sets},
        "verdicts_identical": same,
        "texts_embedded": counts,
        "seconds_median": med,
        "ratio_all_over_ours": {
            k: round(med[f"{k}_all_sentences"] / med[f"{k}_ours"], 2) for k in sets
        },
        "ratio_ours_over_lexical_judge": {
            k: round(med[f"{k}_ours"] / med[f"{k}_lexical_judge"], 2) for k in sets
        },
        "supported_lexical_judge": {
            k: sum(v["supported"] for v in verdicts[f"{k}_lexical_judge"]) for k in sets
        },
        "ratio_padded_over_packed": round(med["calls_of_3_padded"] / med["calls_of_3_packed"], 2),
        "sentences": len(sentences),
    }
    lines = [
        f"judge cost with the structure checks vs the lexical judge, {k}:"
        f" {med[f'{k}_ours']:.2f} s vs {med[f'{k}_lexical_judge']:.2f} s ="
        f" {result['ratio_ours_over_lexical_judge'][k]}x per claim"
        for k in sets
    ]
    lines += [
        f"judge, {k} ({result['claims'][k]} claims, {result['supported'][k]} supported): ours"
        f" {med[f'{k}_ours']:.2f} s, {counts[f'{k}_ours']} texts embedded; every sentence"
        f" {med[f'{k}_all_sentences']:.2f} s, {counts[f'{k}_all_sentences']} texts:"
        f" {result['ratio_all_over_ours'][k]}x"
        for k in sets
    ]
    lines += [
        f"identical verdicts: {same}",
        f"{len(sentences)} sentences in calls of 3: packed {med['calls_of_3_packed']:.2f} s,"
        f" padded {med['calls_of_3_padded']:.2f} s: {result['ratio_padded_over_packed']}x;"
        f" one bulk call {med['one_bulk_call']:.2f} s",
    ]
    emit(result, args.json, lines)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
