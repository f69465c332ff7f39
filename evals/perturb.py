"""A labelled perturbation suite for the grounding judge, generated from any set of abstracts.

The FactCC idea: take true sentences of an abstract and apply rule-based transformations whose
effect on truth is known. BAD kinds produce false (or content-free) claims out of the source's
OWN words, so a judge that only compares words cannot reject them; GOOD kinds are faithful
controls that a judge must keep accepting. Every item records what was changed (``detail``) and
any word the claim adds to its source (``new_words``): none for most kinds, the single word
"not" / "all" / "always" for negation and quantifier, a few frame words (:data:`FRAME_WORDS`:
"This paper is about ...", "the authors") for vacuous, baseline_as_method and light_paraphrase.

Tune on the "dev" split only (:func:`split_of`, a fixed hash of the paper id); report "test".
Misattribution only cites papers of its own split, so the splits share no paper.

    python -m evals.perturb --corpus assistant/data/hf_daily_sample.txt --out perts.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assistant.types import Paper
from evals.perturb_attrib import ATTRIBUTION_RULES
from evals.perturb_edits import EDIT_RULES, FRAME_WORDS, NEGATION_WORDS, QUANTIFIER_WORDS
from evals.perturb_info import Draft, PaperInfo, Split, analyse, split_of
from evals.perturb_rules import RULES
from evals.perturb_text import norm, split_sentences, words

__all__ = [
    "BAD_KINDS",
    "FRAME_WORDS",
    "GOOD_KINDS",
    "KINDS",
    "Perturbation",
    "from_json",
    "generate",
    "main",
    "split_of",
    "split_sentences",
    "summary",
    "to_json",
    "write_jsonl",
]

Label = Literal["good", "bad"]
BAD_KINDS = (
    "role_swap",
    "number_swap",
    "number_drop_partial",
    "baseline_as_method",
    "clause_graft",
    "misattribution",
    "negation",
    "quantifier",
    "vacuous",
)
GOOD_KINDS = ("verbatim", "compression", "clause_reorder", "light_paraphrase")
KINDS = BAD_KINDS + GOOD_KINDS
_ALL_RULES = RULES | ATTRIBUTION_RULES | EDIT_RULES

# Words a claim of each kind may add to its source; the rest must add none.
ALLOWED_NEW_WORDS: dict[str, frozenset[str]] = {
    "negation": NEGATION_WORDS,
    "quantifier": QUANTIFIER_WORDS,
    "vacuous": FRAME_WORDS,
    "baseline_as_method": FRAME_WORDS,
    "light_paraphrase": FRAME_WORDS,
}
_ONE_NEW_WORD = frozenset({"negation", "quantifier"})


@dataclass(frozen=True)
class Perturbation:
    paper_id: str
    source_title: str
    original: str  # the abstract sentence (or the title) the claim came from
    claim: str  # the sentence to judge
    label: Label
    kind: str
    cite_paper_id: str  # the paper the claim cites: paper_id, except for misattribution
    detail: str  # what was changed, human readable
    new_words: tuple[str, ...] = ()  # claim words absent from the cited source(s)

    @property
    def split(self) -> Split:
        return split_of(self.paper_id)


def _new_words(kind: str, claim: str, info: PaperInfo, cited: PaperInfo) -> tuple[str, ...] | None:
    """The words the claim adds, or None when the kind does not allow them."""
    vocab = info.vocab | cited.vocab
    new = tuple(dict.fromkeys(w for w in words(claim) if w not in vocab))
    allowed = ALLOWED_NEW_WORDS.get(kind, frozenset())
    if not set(new) <= allowed or (kind in _ONE_NEW_WORD and len(new) > 1):
        return None
    return new


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(w in it for w in short)


def _valid(kind: str, d: Draft, info: PaperInfo, cited: PaperInfo) -> tuple[str, ...] | None:
    claim = d.claim
    same_ok = kind == "verbatim" or (kind == "misattribution" and claim == d.original)
    if len(words(claim)) < 2 or (claim == d.original) != same_ok:
        return None
    new = _new_words(kind, claim, info, cited)
    if new is None:
        return None
    n = norm(claim)
    if kind == "misattribution" and n in norm(cited.abstract):
        return None  # the cited paper says it too
    stated = n in norm(info.abstract) or n in norm(info.title)
    if kind in BAD_KINDS and kind not in {"misattribution", "vacuous"} and stated:
        return None  # unchanged in effect, or stated elsewhere in the source
    if kind == "compression" and not _is_subsequence(words(claim), words(d.original)):
        return None
    if kind == "clause_reorder" and Counter(words(claim)) != Counter(words(d.original)):
        return None
    return new


def _rng(seed: int, paper_id: str, kind: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}|{paper_id}|{kind}".encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _pick(origins: list[str], k: int, rng: random.Random) -> list[int]:
    """``k`` indices at random, of different source sentences when there are enough."""
    order = list(range(len(origins)))
    rng.shuffle(order)
    chosen: list[int] = []
    seen: set[str] = set()
    for i in order:
        if len(chosen) < k and origins[i] not in seen:
            chosen.append(i)
            seen.add(origins[i])
    chosen += [i for i in order if i not in chosen][: k - len(chosen)]
    return sorted(chosen)


def generate(
    papers: Sequence[Paper], *, seed: int = 0, per_kind_per_paper: int = 2
) -> list[Perturbation]:
    """Up to ``per_kind_per_paper`` validated items of every kind for every paper.

    Deterministic: the same papers and seed give the same list (no ``hash()``, no global RNG).
    """
    infos = list({p.paper_id: analyse(p) for p in papers}.values())
    by_id = {i.paper_id: i for i in infos}
    out: list[Perturbation] = []
    for info in infos:
        for kind in KINDS:
            valid: list[tuple[Draft, tuple[str, ...]]] = []
            seen: set[tuple[str, str]] = set()
            for draft in _ALL_RULES[kind](info, infos):
                d = dataclasses.replace(draft, claim=" ".join(draft.claim.split()))
                new = _valid(kind, d, info, by_id.get(d.cite, info))
                if new is not None and (d.claim, d.cite) not in seen:
                    seen.add((d.claim, d.cite))
                    valid.append((d, new))
            rng = _rng(seed, info.paper_id, kind)
            for i in _pick([d.original for d, _ in valid], per_kind_per_paper, rng):
                d, new = valid[i]
                out.append(
                    Perturbation(
                        paper_id=info.paper_id,
                        source_title=info.title,
                        original=d.original,
                        claim=d.claim,
                        label="good" if kind in GOOD_KINDS else "bad",
                        kind=kind,
                        cite_paper_id=d.cite or info.paper_id,
                        detail=d.detail,
                        new_words=new,
                    )
                )
    return out


def summary(perts: Iterable[Perturbation]) -> dict[str, dict[str, int]]:
    """Counts per kind and split: ``{"role_swap": {"dev": 12, "test": 9}, ...}``."""
    counts: dict[str, dict[str, int]] = {k: {"dev": 0, "test": 0} for k in KINDS}
    for p in perts:
        counts.setdefault(p.kind, {"dev": 0, "test": 0})[p.split] += 1
    return counts


def to_json(p: Perturbation) -> dict[str, Any]:
    return {**dataclasses.asdict(p), "new_words": list(p.new_words), "split": p.split}


def from_json(data: dict[str, Any]) -> Perturbation:
    names = {f.name for f in dataclasses.fields(Perturbation)}
    fields = {k: v for k, v in data.items() if k in names}
    fields["new_words"] = tuple(fields.get("new_words", ()))
    return Perturbation(**fields)


def write_jsonl(perts: Iterable[Perturbation], path: Path) -> None:
    """Write one JSON object a line, atomically (a temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for p in perts:
                fh.write(json.dumps(to_json(p), ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.perturb", description=__doc__)
    parser.add_argument("--corpus", type=Path, required=True, help="a file of paper records")
    parser.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-kind-per-paper", type=int, default=2)
    args = parser.parse_args(argv)
    from assistant.sources import parse_file  # lazy: only the CLI reads files

    papers = parse_file(args.corpus).papers
    if not papers:
        print(f"no papers in {args.corpus}", file=sys.stderr)
        return 2
    perts = generate(papers, seed=args.seed, per_kind_per_paper=args.per_kind_per_paper)
    write_jsonl(perts, args.out)
    print(f"{len(perts)} items from {len(papers)} papers -> {args.out}")
    for kind, n in summary(perts).items():
        print(f"  {kind:<20} dev {n['dev']:>4}  test {n['test']:>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
