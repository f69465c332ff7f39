"""The perturbation suite (evals/perturb.py): labels, no new words, determinism, splits, JSONL.

No model, no network: hand-made Papers plus one pass over the bundled sample corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.types import Paper
from evals.perturb import (
    ALLOWED_NEW_WORDS,
    BAD_KINDS,
    FRAME_WORDS,
    GOOD_KINDS,
    KINDS,
    Perturbation,
    from_json,
    generate,
    main,
    split_of,
    split_sentences,
    summary,
    to_json,
    write_jsonl,
)
from evals.perturb_edits import NEGATION_WORDS, QUANTIFIER_WORDS
from evals.perturb_text import norm, words

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assistant" / "data" / "hf_daily_sample.txt"


def _id(base: str, split: str) -> str:
    """A paper id that lands in ``split`` (misattribution only cites within a split)."""
    return next(f"{base}-{i}" for i in range(100) if split_of(f"{base}-{i}") == split)


ZORBIX = (
    "Existing methods often struggle with long widget lists. "
    "These models are not publicly accessible, limiting their use. "
    "To address these problems, we propose Zorbix, a sparse ranking model for widget lists. "
    "Zorbix outperforms the dense baseline on widget ranking. "
    "Zorbix can rank widgets without any task-specific modules. "
    "The gating network is trained with sparse labels (e.g. clicks), as in Smith et al. (2020). "
    "We evaluate Zorbix on 12 datasets across 3 domains. "
    "The two corpora contain 500M and 1B examples respectively. "
    "Our experiments show that Zorbix reaches 85.3% accuracy, i.e. 4.1 points above the baseline. "
    "Furthermore, the dense baseline is slow on long lists, making it costly to deploy. "
    "The datasets used by Zorbix are public."
)
QUILLET = (
    "Many retrieval systems rank widgets by popularity. "
    "We introduce Quillet, a retriever for widget search. "
    "Quillet uses a dual encoder to score widget descriptions. "
    "In our experiments, Quillet improves recall on 4 benchmarks. "
    "Quillet is trained on 2M queries from 7 languages."
)


def _papers(split: str = "dev") -> list[Paper]:
    return [
        Paper(
            paper_id=_id("zorbix", split),
            title="Zorbix: Sparse Gates for Widget Ranking",
            abstract=ZORBIX,
        ),
        Paper(
            paper_id=_id("quillet", split),
            title="Quillet: Dense Retrieval for Widget Search",
            abstract=QUILLET,
        ),
    ]


@pytest.fixture(scope="module")
def synthetic() -> list[Perturbation]:
    return generate(_papers(), seed=0, per_kind_per_paper=50)


@pytest.fixture(scope="module")
def sample_papers() -> list[Paper]:
    from assistant.sources import parse_file

    return parse_file(SAMPLE).papers


@pytest.fixture(scope="module")
def sample(sample_papers: list[Paper]) -> list[Perturbation]:
    return generate(sample_papers, seed=0)


def _by_kind(perts: list[Perturbation], kind: str) -> list[Perturbation]:
    return [p for p in perts if p.kind == kind]


def _check_item(p: Perturbation, papers: dict[str, Paper]) -> None:
    """Every invariant an item of any kind must keep."""
    src = papers[p.paper_id]
    cited = papers[p.cite_paper_id]
    assert p.kind in KINDS
    assert p.label == ("good" if p.kind in GOOD_KINDS else "bad")
    assert p.source_title == src.title
    assert norm(p.original) in norm(src.abstract) or p.original == src.title
    # the claim's new words are exactly the recorded ones, and only those its kind allows
    vocab = set(words(src.title + " " + src.abstract + " " + cited.title + " " + cited.abstract))
    new = [w for w in dict.fromkeys(words(p.claim)) if w not in vocab]
    assert tuple(new) == p.new_words, p
    assert set(p.new_words) <= ALLOWED_NEW_WORDS.get(p.kind, set()), p
    if p.kind in {"negation", "quantifier"}:
        assert len(p.new_words) <= 1
        assert all(f"'{w}'" in p.detail for w in p.new_words), p.detail
    if p.kind == "misattribution":
        assert p.cite_paper_id != p.paper_id
        assert split_of(p.cite_paper_id) == split_of(p.paper_id)
        assert norm(p.claim) not in norm(cited.abstract)
    else:
        assert p.cite_paper_id == p.paper_id
        assert set(words(p.claim)) <= set(words(src.title + " " + src.abstract)) | FRAME_WORDS | {
            "not",
            "all",
            "always",
        }
    if p.kind == "verbatim":
        assert p.claim == p.original
    elif p.kind != "misattribution":
        assert p.claim != p.original
    if p.kind in BAD_KINDS and p.kind not in {"misattribution", "vacuous"}:
        assert norm(p.claim) not in norm(src.abstract), "a 'false' claim the source states"
    if p.kind == "compression":
        it = iter(words(p.original))
        assert all(w in it for w in words(p.claim)), "compression may only delete words"
    if p.kind == "clause_reorder":
        assert Counter(words(p.claim)) == Counter(words(p.original))
    if p.kind in {"verbatim", "compression", "clause_reorder"}:
        assert set(words(p.claim)) <= set(words(p.original))


# --- sentences -----------------------------------------------------------------------------------


def test_splitter_keeps_abbreviations_and_decimals() -> None:
    text = (
        "We use e.g. BERT and GPT. Smith et al. (2020) showed it. Accuracy is 85.3 on X, i.e. "
        "SOTA. It works! Fig. 3 shows more. Done etc. Then more."
    )
    assert split_sentences(text) == [
        "We use e.g. BERT and GPT.",
        "Smith et al. (2020) showed it.",
        "Accuracy is 85.3 on X, i.e. SOTA.",
        "It works!",
        "Fig. 3 shows more.",
        "Done etc.",
        "Then more.",
    ]


def test_splitter_edge_cases() -> None:
    assert split_sentences("") == []
    assert split_sentences("no final stop") == ["no final stop"]
    assert split_sentences("We see 2.5x gains. the next word is lower case.") == [
        "We see 2.5x gains. the next word is lower case."
    ]
    assert split_sentences("Code at https://x.org/a.b . Next.") == [
        "Code at https://x.org/a.b .",
        "Next.",
    ]
    assert split_sentences('It is "good." Then it ends.') == ['It is "good."', "Then it ends."]


# --- splits --------------------------------------------------------------------------------------


def test_split_is_a_fixed_hash() -> None:
    for pid in ("2305.12345", "paper-a", "paper-b", "x"):
        digest = int(hashlib.sha256(pid.encode()).hexdigest(), 16)
        assert split_of(pid) == ("test" if digest % 2 == 1 else "dev")
    assert [split_of(p) for p in ("2305.12345", "paper-a", "paper-b", "x")] == [
        "dev",
        "test",
        "dev",
        "test",
    ]


def test_split_is_roughly_balanced() -> None:
    counts = Counter(split_of(f"paper-{i}") for i in range(200))
    assert 70 <= counts["test"] <= 130, counts


# --- every kind on hand-made papers --------------------------------------------------------------


def test_every_kind_on_synthetic_papers(synthetic: list[Perturbation]) -> None:
    got = Counter(p.kind for p in synthetic)
    assert set(got) == set(KINDS), set(KINDS) - set(got)
    papers = {p.paper_id: p for p in _papers()}
    for p in synthetic:
        _check_item(p, papers)


@pytest.mark.parametrize(
    ("kind", "claim"),
    [
        ("role_swap", "The dense baseline outperforms Zorbix on widget ranking."),
        ("number_swap", "We evaluate Zorbix on 3 datasets across 12 domains."),
        ("number_drop_partial", "The two corpora contain 500M examples."),
        ("baseline_as_method", "Zorbix is not publicly accessible."),
        ("negation", "These models are publicly accessible, limiting their use."),
        ("negation", "Zorbix can rank widgets with task-specific modules."),
        ("quantifier", "Existing methods always struggle with long widget lists."),
        ("vacuous", "Zorbix is Zorbix."),
        ("vacuous", "This paper is about Zorbix: Sparse Gates for Widget Ranking."),
        ("compression", "These models are not publicly accessible."),
        ("clause_reorder", "Quillet improves recall on 4 benchmarks in our experiments."),
        ("light_paraphrase", "The authors evaluate Zorbix on 12 datasets across 3 domains."),
        ("misattribution", "Quillet outperforms the dense baseline on widget ranking."),
    ],
)
def test_expected_items(synthetic: list[Perturbation], kind: str, claim: str) -> None:
    assert claim in {p.claim for p in _by_kind(synthetic, kind)}


def test_misattribution_cites_the_closest_other_paper(synthetic: list[Perturbation]) -> None:
    zorbix, quillet = (p.paper_id for p in _papers())
    items = _by_kind(synthetic, "misattribution")
    verbatim = [p for p in items if p.claim == p.original]
    assert verbatim and all(p.cite_paper_id != p.paper_id for p in items)
    assert {(p.paper_id, p.cite_paper_id) for p in items} == {(zorbix, quillet), (quillet, zorbix)}


def test_clause_graft_uses_non_adjacent_sentences(synthetic: list[Perturbation]) -> None:
    grafts = _by_kind(synthetic, "clause_graft")
    assert grafts
    for p in grafts:
        i, j = (int(n) for n in p.detail.replace("+", " ").split() if n.isdigit())
        assert abs(i - j) >= 2


def test_rules_skip_what_they_cannot_change() -> None:
    pid = _id("twin", "dev")
    abstract = (
        "Alpha outperforms Beta on ranking. Beta outperforms Alpha on ranking. "
        "We test on 3 tasks and 3 domains. The model is small and fast."
    )
    perts = generate([Paper(paper_id=pid, title="Twin models", abstract=abstract)], seed=0)
    claims = {p.claim for p in perts if p.kind in BAD_KINDS}
    # the swapped sentence is stated by the source: it must not be labelled bad
    assert "Beta outperforms Alpha on ranking." not in claims
    assert "Alpha outperforms Beta on ranking." not in claims
    # identical numbers: nothing to exchange
    assert not [p for p in perts if p.kind == "number_swap"]


def test_no_output_for_papers_without_prose() -> None:
    perts = generate([Paper(paper_id="p", title="T", abstract="")], seed=0)
    assert {p.kind for p in perts} <= {"vacuous"}
    assert generate([], seed=0) == []


def test_per_kind_per_paper_caps(synthetic: list[Perturbation]) -> None:
    perts = generate(_papers(), seed=3, per_kind_per_paper=1)
    assert max(Counter((p.paper_id, p.kind) for p in perts).values()) == 1
    assert {p.kind for p in perts} == {p.kind for p in synthetic}


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_output(sample_papers: list[Paper], sample: list[Perturbation]) -> None:
    assert generate(sample_papers, seed=0) == sample
    assert generate(sample_papers, seed=1) != sample


def test_output_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"perts-{hash_seed}.jsonl"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        cmd = [sys.executable, "-m", "evals.perturb", "--corpus", str(SAMPLE), "--out", str(out)]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0]


# --- the sample corpus ---------------------------------------------------------------------------


def test_sample_corpus_covers_every_kind_on_both_splits(
    sample_papers: list[Paper], sample: list[Perturbation]
) -> None:
    counts = summary(sample)
    for kind in KINDS:
        assert counts[kind]["dev"] + counts[kind]["test"] >= 10, (kind, counts[kind])
        assert min(counts[kind].values()) >= 3, (kind, counts[kind])
    papers = {p.paper_id: p for p in sample_papers}
    for p in sample:
        _check_item(p, papers)


def test_summary_counts(sample: list[Perturbation]) -> None:
    counts = summary(sample)
    assert list(counts) == list(KINDS)
    assert sum(n for c in counts.values() for n in c.values()) == len(sample)
    assert counts["verbatim"]["test"] == sum(
        1 for p in sample if p.kind == "verbatim" and split_of(p.paper_id) == "test"
    )


# --- JSON ----------------------------------------------------------------------------------------


def test_json_round_trip(synthetic: list[Perturbation]) -> None:
    for p in synthetic:
        line = json.dumps(to_json(p))
        data = json.loads(line)
        assert data["split"] == split_of(p.paper_id)
        assert from_json(data) == p


def test_write_jsonl_is_atomic(tmp_path: Path, synthetic: list[Perturbation]) -> None:
    out = tmp_path / "perts.jsonl"
    write_jsonl(synthetic, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [from_json(json.loads(x)) for x in lines] == synthetic

    def broken() -> Iterator[Perturbation]:
        yield synthetic[0]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_jsonl(broken(), out)
    assert out.read_text(encoding="utf-8").splitlines() == lines  # the old file survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perts.jsonl"]  # no temp file left


def test_cli_writes_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "perts.jsonl"
    assert main(["--corpus", str(SAMPLE), "--out", str(out), "--seed", "0"]) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows and {r["kind"] for r in rows} == set(KINDS)
    assert "role_swap" in capsys.readouterr().out


def test_cli_rejects_an_empty_corpus(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"title": "only a title"}\n', encoding="utf-8")
    assert main(["--corpus", str(empty), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert not (tmp_path / "o.jsonl").exists()


def test_allowed_words_are_small() -> None:
    assert {"not"} <= NEGATION_WORDS and {"all", "always"} <= QUANTIFIER_WORDS
    assert len(FRAME_WORDS) <= 15
