"""Unit tests of the eval metrics, the gate, the report and the judge meta-evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.types import Paper
from evals import metrics as M
from evals.cases import Cases, FixtureError, load_cases, load_corpus
from evals.gate import (
    THRESHOLDS_FILE,
    CaseResult,
    EvalResult,
    SuiteResult,
    Threshold,
    apply_gate,
    load_thresholds,
)
from evals.report import markdown, summary, to_json, write_reports

# --- retrieval and citations ---------------------------------------------------------------------


def test_recall_at_k() -> None:
    assert M.recall_at_k(["a"], ["a", "b"], 1) == 1.0
    assert M.recall_at_k(["b"], ["a", "b"], 1) == 0.0
    assert M.recall_at_k(["b"], ["a", "b"], 2) == 1.0
    assert M.recall_at_k(["a", "c"], ["a", "b", "c"], 2) == 0.5
    assert M.recall_at_k(["a"], [], 5) == 0.0
    with pytest.raises(ValueError):
        M.recall_at_k([], ["a"], 1)


def test_mrr() -> None:
    assert M.mrr(["a"], ["a", "b"]) == 1.0
    assert M.mrr(["b"], ["a", "b"]) == 0.5
    assert M.mrr(["c", "b"], ["a", "b", "c"]) == 0.5  # first gold counts
    assert M.mrr(["z"], ["a", "b"]) == 0.0


def test_citation_validity_and_gold_hit() -> None:
    assert M.citation_validity(["a"], ["a", "b"])
    assert M.citation_validity([], ["a"])
    assert not M.citation_validity(["a", "x"], ["a", "b"])
    assert M.citation_gold_hit(["a", "b"], ["b"])
    assert not M.citation_gold_hit(["a"], ["b"])
    assert not M.citation_gold_hit([], ["b"])


# --- key facts -----------------------------------------------------------------------------------


def test_key_fact_recall_alternatives_and_case() -> None:
    facts = [["360 million", "360M"], ["FLAN-T5"]]
    assert M.key_fact_recall(facts, ["Cappy has 360M parameters and helps flan-t5."]) == 1.0
    assert M.key_fact_recall(facts, ["Cappy has 360 million parameters."]) == 0.5
    assert M.key_fact_recall(facts, ["Nothing relevant."]) == 0.0


def test_key_fact_recall_counts_quotes() -> None:
    facts = [["45"]]
    assert M.key_fact_recall(facts, ["It uses many tasks [1].", '"on 45 complex tasks"']) == 1.0


def test_key_fact_numbers_do_not_run_into_digits() -> None:
    assert not M.fact_found(["45"], ["there are 450 tasks"])
    assert not M.fact_found(["45"], ["in 2045"])
    assert M.fact_found(["45"], ["45 tasks"])
    assert M.fact_found(["85.3"], ["reaches 85.3% top-1"])
    assert not M.fact_found(["5"], ["5.5 points"])
    assert not M.fact_found(["0.7"], ["10.7 points"])
    assert M.fact_found(["5"], ["top 5. Then"])  # a sentence-ending period is not a decimal
    assert M.fact_found(["13,215"], ["13,215 dialogs"])


def test_key_fact_whitespace_is_flexible() -> None:
    assert M.fact_found(["360 million"], ["360\nmillion parameters"])


def test_missing_facts_lists_the_missing_ones() -> None:
    facts = [["560"], ["6,655"]]
    assert M.missing_facts(facts, ["GUIDE covers 560 tasks."]) == [["6,655"]]
    with pytest.raises(ValueError):
        M.key_fact_recall([], ["x"])


# --- sentences, numbers and entities -------------------------------------------------------------

CAPPY = (
    "Cappy: Outperforming and Boosting Large Multi-Task LMs with a Small Scorer\n\n"
    "With merely 360 million parameters, Cappy functions either independently on classification "
    "tasks or serve as an auxiliary component for LLMs, boosting their performance. Cappy "
    "enhances the performance of FLAN-T5 on 45 complex tasks from BIG-Bench."
)


def test_judge_answer_supported_sentence_passes() -> None:
    out = M.judge_answer("Cappy has 360 million parameters [1].", {1: CAPPY})
    assert len(out) == 1 and out[0].supported
    assert M.unsupported_sentence_rate(out) == 0.0
    assert M.absent_numbers(out) == [] and M.absent_entities(out) == []


def test_judge_answer_wrong_number_fails() -> None:
    out = M.judge_answer("Cappy has 999 million parameters [1].", {1: CAPPY})
    assert not out[0].supported
    assert M.absent_numbers(out)
    assert M.unsupported_sentence_rate(out) == 1.0


def test_judge_answer_hallucinated_entity_fails() -> None:
    out = M.judge_answer("Cappy boosts GPT-4o on ImageNet [1].", {1: CAPPY})
    assert not out[0].supported
    assert M.absent_entities(out)


def test_judge_answer_unknown_marker_and_no_sources_fail() -> None:
    out = M.judge_answer("Cappy has 360 million parameters [2].", {1: CAPPY})
    assert not out[0].supported and "unknown source" in out[0].reason
    assert all(not s.supported for s in M.judge_answer("Cappy is small.", {}))


def test_unsupported_rate_mixes_sentences() -> None:
    text = "Cappy has 360 million parameters [1]. It was invented in Paris in 1850 [1]."
    out = M.judge_answer(text, {1: CAPPY})
    assert M.unsupported_sentence_rate(out) == 0.5
    assert M.unsupported_sentence_rate([]) is None


# --- abstention ----------------------------------------------------------------------------------


def test_abstention_rates() -> None:
    assert M.abstention_accuracy([True, True, False, True]) == 0.75
    assert M.false_abstention_rate([False, False, True, False]) == 0.25
    assert M.abstention_accuracy([]) is None


def test_terms_present() -> None:
    assert M.terms_present(["GPT-4", "Qwen"], "It runs on gpt-4 agents.") == ["GPT-4"]
    assert M.terms_present(["hours"], "No duration is given.") == []


# --- TL;DRs --------------------------------------------------------------------------------------

TITLE, ABSTRACT = CAPPY.split("\n\n")


def _tldr(text: str) -> M.TldrCheck:
    return M.check_tldr(
        text,
        title=TITLE,
        abstract=ABSTRACT,
        numbers=["360 million", "45"],
        entities=["Cappy", "FLAN-T5"],
        max_words=30,
    )


def test_tldr_good_passes() -> None:
    check = _tldr("Cappy, a 360 million parameter scorer, boosts FLAN-T5 on 45 BIG-Bench tasks.")
    assert check.passed and check.facts_ok and check.mentions_key_entity, check.why()


def test_tldr_wrong_number_fails_the_fact_check() -> None:
    check = _tldr("Cappy, a 500 million parameter scorer, boosts FLAN-T5 on 45 BIG-Bench tasks.")
    assert not check.numbers_ok and not check.passed
    assert any("numbers" in w for w in check.why())


def test_tldr_unknown_entity_fails() -> None:
    check = _tldr("Cappy boosts LLaMA-2 on 45 complex tasks from BIG-Bench.")
    assert not check.entities_ok and not check.passed


def test_tldr_length_and_sentences() -> None:
    long = "Cappy boosts FLAN-T5 on complex tasks " * 6
    assert not _tldr(long.strip() + ".").within_length
    two = _tldr("Cappy is a small scorer. It boosts FLAN-T5 on 45 complex tasks.")
    assert not two.one_sentence and not two.passed


def test_tldr_unfaithful_fails_the_judge() -> None:
    check = _tldr("Cappy cures cancer in hospital patients worldwide.")
    assert not check.faithful and not check.passed


# --- judge meta ----------------------------------------------------------------------------------


def test_judge_meta_counts() -> None:
    rows = [
        ("bad", "wrong_number", True),
        ("bad", "wrong_number", False),
        ("good", "verbatim", False),
        ("good", "paraphrase", True),
        ("bad", "hard_negation", False),
    ]
    meta = M.judge_meta(rows)
    assert meta.bad_caught_rate == 0.5
    assert meta.good_passed_rate == 0.5
    assert meta.precision == 0.5
    assert meta.hard_negation_caught == 0.0
    assert meta.by_kind["wrong_number"] == 0.5


def test_judge_meta_pass_everything_is_caught() -> None:
    """A judge that accepts everything scores 0 on bad sentences: the defect this measures."""
    rows = [("bad", "wrong_number", False)] * 5 + [("good", "verbatim", False)] * 5
    meta = M.judge_meta(rows)
    assert meta.bad_caught_rate == 0.0 and meta.good_passed_rate == 1.0
    assert meta.precision is None


def test_yes_no() -> None:
    assert M.yes_no("Yes.") is True
    assert M.yes_no("no, it is not") is False
    assert M.yes_no("maybe") is None


def test_percentile_and_mean() -> None:
    assert M.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert M.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert M.percentile([], 50) is None
    assert M.mean([]) is None


Corpus = tuple[list[Paper], Cases]


@pytest.fixture(scope="module")
def corpus_and_cases() -> Corpus:
    papers = load_corpus()
    return papers, load_cases(papers)


def test_fixtures_resolve_against_the_corpus(corpus_and_cases: Corpus) -> None:
    papers, cases = corpus_and_cases
    ids = {p.paper_id for p in papers}
    assert len(cases.answerable) >= 40 and len(cases.multi) >= 6
    assert len(cases.unanswerable) >= 12
    assert {t.paper_id for t in cases.tldr} == ids
    for c in [*cases.answerable, *cases.multi]:
        assert set(c.gold_ids) <= ids


def test_unknown_title_is_a_fixture_error(tmp_path: Path) -> None:
    papers = load_corpus()
    src = Path(__file__).resolve().parent.parent / "evals" / "fixtures"
    for f in src.glob("*.jsonl"):
        (tmp_path / f.name).write_text(f.read_text("utf-8"), "utf-8")
    row = {"id": "qa-x", "question": "?", "gold_titles": ["No Such Paper"], "key_facts": [["a"]]}
    with (tmp_path / "qa_answerable.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    with pytest.raises(FixtureError, match="No Such Paper"):
        load_cases(papers, tmp_path)


def test_judge_meets_its_bar_on_the_labelled_set(corpus_and_cases: Corpus) -> None:
    """The real grounding judge (lexical, no model), given title + abstract as answers are
    checked: catch >= 90 % of bad sentences while passing >= 80 % of good ones (the structure
    checks refuse some multi-sentence compressions). Hard negations are reported, not gated."""
    from assistant import grounding

    papers, cases = corpus_and_cases
    by_title = {p.title: p for p in papers}
    rows = []
    for j in cases.judge:
        paper = by_title[j.title]
        support = grounding.score_support(j.sentence, [paper.title + "\n\n" + paper.abstract])
        rows.append((j.label, j.kind, not support.supported))
    meta = M.judge_meta(rows)
    assert meta.bad_caught_rate is not None and meta.good_passed_rate is not None
    print(f"judge: bad caught {meta.bad_caught_rate:.3f}, good passed {meta.good_passed_rate:.3f}")
    assert meta.bad_caught_rate >= 0.9, meta.by_kind
    assert meta.good_passed_rate >= 0.8, meta.by_kind


# --- gate and report -----------------------------------------------------------------------------


def _result(values: dict[str, float | None]) -> EvalResult:
    case = CaseResult(suite="qa", id="qa-1", question="How big is Cappy?", answer="Big.")
    case.passed, case.why = False, ["missing key facts: 360 million"]
    return EvalResult(suites=[SuiteResult(name="qa", seconds=1.0, values=values, cases=[case])])


def test_threshold_min_max_and_goal() -> None:
    lo = Threshold(min=0.5, goal=0.8)
    assert lo.passes(0.5) and not lo.passes(0.49) and not lo.passes(None)
    assert lo.at_goal(0.9) and not lo.at_goal(0.6)
    hi = Threshold(max=0.0, goal=0.0)
    assert hi.passes(0.0) and not hi.passes(0.01)
    with pytest.raises(ValueError):
        Threshold(goal=1.0)
    with pytest.raises(ValueError):
        Threshold(min=0.1, max=0.2)


def test_gate_fails_below_min_and_on_missing_metric() -> None:
    gates = {"qa": {"key_fact_recall": Threshold(min=0.5), "typo_metric": Threshold(min=0.1)}}
    res = apply_gate(_result({"key_fact_recall": 0.7, "info_only": 0.1}), gates)
    assert not res.passed
    assert [m.name for m in res.failed_metrics] == ["typo_metric"]
    res = apply_gate(
        _result({"key_fact_recall": 0.4}), {"qa": {"key_fact_recall": Threshold(min=0.5)}}
    )
    assert not res.passed
    res = apply_gate(
        _result({"key_fact_recall": 0.6}), {"qa": {"key_fact_recall": Threshold(min=0.5)}}
    )
    assert res.passed
    res = apply_gate(
        _result({"key_fact_recall": None}), {"qa": {"key_fact_recall": Threshold(min=0.5)}}
    )
    assert not res.passed


def test_thresholds_file_is_valid_and_never_trivial() -> None:
    table = load_thresholds(THRESHOLDS_FILE)
    assert {"qa", "tldr", "judge"} <= set(table)
    for suite, gates in table.items():
        for name, t in gates.items():
            assert t.goal is not None, f"{suite}.{name} has no goal"
            if t.min is not None:  # a min of 0 can never fail
                assert t.min > 0, f"{suite}.{name}: use max for rates that should be 0"
                assert t.goal >= t.min
            else:
                assert t.max is not None and t.goal <= t.max
    # catch >= 90 % of bad sentences; pass >= 80 % of good ones (the structure checks refuse
    # some compressions of distant sentences: evals/thresholds.toml says which)
    assert (table["judge"]["bad_caught_rate"].min or 0) >= 0.9
    assert (table["judge"]["good_passed_rate"].min or 0) >= 0.8
    # the hard negatives and the hand audit are gated, on their test splits
    assert {"test_bad_caught_min", "test_good_passed_min"} <= set(table["perturb"])
    assert {"test_precision", "test_recall"} <= set(table["audit"])


def test_report_lists_failing_cases_and_writes_files(tmp_path: Path) -> None:
    res = apply_gate(
        _result({"key_fact_recall": 0.4}), {"qa": {"key_fact_recall": Threshold(min=0.5, goal=0.8)}}
    )
    md = markdown(res)
    assert "**FAIL**" in md and "How big is Cappy?" in md and "missing key facts" in md
    assert "| `key_fact_recall` | 0.400 | ≥ 0.5 | 0.800 |" in md
    out = write_reports(res, tmp_path / "r" / "report.md")
    assert out["markdown"].is_file() and out["json"].is_file()
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(out["json"].read_text("utf-8"))
    assert data["passed"] is False and data["failed_metrics"] == ["qa.key_fact_recall"]
    assert to_json(res)["suites"][0]["cases"][0]["why"] == ["missing key facts: 360 million"]
    assert "FAIL" in summary(res)
