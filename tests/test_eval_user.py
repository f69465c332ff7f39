"""The ``user`` suite (evals/suite_user.py): its metrics, its per-split report and its gate."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from assistant.config import Settings
from assistant.protocols import Message
from assistant.service import Assistant
from assistant.testing import FakeEmbedder, FakeLLM
from assistant.types import ABSTAIN, Answer, Citation
from evals import suite_user as U
from evals import suites as S
from evals.cases import FIXTURES_DIR, load_corpus
from evals.gate import THRESHOLDS_FILE, EvalResult, Threshold, apply_gate, load_thresholds
from evals.runner import SUITES, run_suites


def cite(paper_id: str, quote: str = "", span: str = "", marker: int = 1) -> Citation:
    return Citation(
        marker=marker, paper_id=paper_id, title=paper_id, chunk_id="c", quote=quote, span=span
    )


def answer(
    text: str = "",
    *cites: Citation,
    abstained: bool = False,
    kind: str = "answer",
    standalone: str | None = None,
) -> Answer:
    return Answer(
        question="q",
        answer=ABSTAIN if abstained else text,
        abstained=abstained,
        kind=cast(Any, "abstain" if abstained else kind),
        citations=list(cites),
        standalone_question=standalone,
    )


# --- key facts: answer text or marked span, never the rest of the quote ------------------------

FACTS = [["360 million"], ["45"]]


def test_a_fact_in_the_span_only_counts_as_shown() -> None:
    ans = answer(
        "Cappy is small [1].", cite("p", "With merely 360 million parameters", "360 million")
    )
    assert U.shown_fact_recall(FACTS, ans) == 0.5
    assert U.span_fact_recall(FACTS, ans) == 0.5


def test_a_fact_in_the_quote_outside_the_span_is_not_shown() -> None:
    quote = "Cappy boosts FLAN-T5 on 45 complex tasks"
    ans = answer("Cappy has 360 million parameters [1].", cite("p", quote, "FLAN-T5"))
    assert U.shown_fact_recall(FACTS, ans) == 0.5  # 45 is only in the unmarked quote
    assert U.span_fact_recall(FACTS, ans) == 0.0  # 360 million is in the text, not a span
    assert U.quote_fact_recall(FACTS, ans) == 1.0  # the qa suite's rule would count both


def test_facts_across_several_spans_and_abstention() -> None:
    ans = answer("x", cite("p", "a", "360 million"), cite("q", "b", "45 tasks", marker=2))
    assert U.span_fact_recall(FACTS, ans) == 1.0
    assert U.spans(answer("x", cite("p", "a", "  "))) == []
    gone = answer(abstained=True)
    assert U.shown_fact_recall(FACTS, gone) == U.span_fact_recall(FACTS, gone) == 0.0


# --- which papers ------------------------------------------------------------------------------


def test_paper_precision_counts_an_extra_wrong_paper() -> None:
    cited = U.cited_papers(answer("", cite("a"), cite("b", marker=2), cite("x", marker=3)))
    assert U.paper_recall(cited, ["a", "b"]) == 1.0
    assert U.paper_precision(cited, ["a", "b"]) == pytest.approx(2 / 3)


def test_paper_recall_misses_and_duplicate_citations() -> None:
    cited = U.cited_papers(answer("", cite("a"), cite("a", marker=2)))
    assert cited == ["a"]
    assert U.paper_recall(cited, ["a", "b", "c", "d"]) == 0.25
    assert U.paper_precision(cited, ["a", "b"]) == 1.0
    assert U.paper_precision([], ["a"]) == 0.0  # abstaining is not a precise list
    assert U.paper_recall([], ["a"]) == 0.0
    with pytest.raises(ValueError):
        U.paper_recall(["a"], [])


# --- follow-ups: the resolved question names the paper ---------------------------------------

TITLES = {
    "univtg": "UniVTG: Towards Unified Video-Language Temporal Grounding",
    "cappy": "Cappy: Outperforming and Boosting Large Multi-Task LMs with a Small Scorer",
    "xlg": "Crosslingual Generalization through Multitask Finetuning",
    "mhr": "MultiHop-RAG: Benchmarking Retrieval-Augmented Generation for Multi-Hop Queries",
    "sim": "Knowing You Don't Know: Learning When to Continue Search in Multi-round RAG",
}


def names(pid: str, first_turn: str = "", text: str = "") -> list[str]:
    return U.paper_names(TITLES[pid], [t for k, t in TITLES.items() if k != pid], first_turn, text)


def test_paper_names_short_name_and_odd_tokens() -> None:
    assert names("univtg")[0] == "UniVTG"
    assert "Cappy" in names("cappy") and "LMs" not in names("cappy")  # generic, too short
    assert "RAG" not in names("sim")  # MultiHop-RAG's title uses it too
    rare = names("xlg")  # nothing name-like: the title's rare words instead
    assert "Crosslingual" in rare and "through" not in rare
    text = "we introduce xP3, a composite of supervised datasets in 46 languages"
    assert "xP3" in names("xlg", "What is xP3?", text)
    assert "Retrieval" not in names("xlg", "What is Retrieval?", text)  # not in its text


def test_names_match_whole_words_hyphen_or_space() -> None:
    assert U.names_in("How many tasks does Tree of Code beat?", ["Tree-of-Code"])
    assert U.names_in("what does univtg unify?", ["UniVTG"])
    assert not U.names_in("What do UniVTGs unify?", ["UniVTG"])
    assert not U.names_in("Is it Cappyx?", ["Cappy"])


def test_resolved_question_falls_back_to_the_follow_up() -> None:
    assert U.resolved_question(answer("a", standalone="Which tasks does UniVTG unify?"), "q2")
    assert U.resolved_question(answer("a"), "Which tasks does it unify?") == (
        "Which tasks does it unify?"
    )
    assert U.resolved_question(answer("a", standalone="  "), "q2") == "q2"


def test_fixture_follow_ups_name_their_paper_only_in_turn_one() -> None:
    """On the real fixtures every paper has a name, turn 1 uses it and turn 2 does not, so an
    unresolved follow-up scores 0 and echoing turn 1's name scores 1."""
    cases = U.load_user_cases(load_corpus())
    follow = [c for c in cases.cases if c.kind == "followup"]
    assert len(follow) >= 12
    for c in follow:
        gold = c.gold_ids[0]
        others = [t for pid, t in cases.texts.items() if pid != gold]
        found = U.paper_names(cases.titles[gold], others, c.first_turn, cases.texts[gold])
        assert found, c.id
        assert U.names_in(c.first_turn, found), c.id
        assert not U.names_in(c.question, found), c.id


def test_user_fixtures_load_with_splits() -> None:
    cases = U.load_user_cases(load_corpus())
    for kind in ("paraphrase", "near_miss", "off_topic", "which_papers", "followup", "multi"):
        assert cases.of(kind, "test"), kind
        assert cases.of(kind, "dev"), kind
    assert len(cases.of("multi", "test")) >= 6


# --- the suite with a stub answerer -------------------------------------------------------------


def case(cid: str, kind: str, split: str, q: str, **kw: Any) -> U.UserCase:
    return U.UserCase(id=cid, kind=kind, split=cast(Any, split), question=q, **kw)


def world(*cases: U.UserCase) -> U.UserCases:
    titles = {"g": "GUIDE: A Guideline-Guided Dataset", "o": "Other Paper About Things"}
    texts = {k: f"{t}\n\nAbstract of {k}." for k, t in titles.items()}
    return U.UserCases(cases=list(cases), titles=titles, texts=texts)


FACT = [["560"]]
SCRIPT = {
    # test: a paraphrase answered with the fact in the span, one abstained on
    "tp1": answer("GUIDE has many tasks [1].", cite("g", "560 instructional tasks", "560")),
    "tp2": answer(abstained=True),
    # dev: the fact in the text only, no span
    "dp1": answer("GUIDE covers 560 tasks [1].", cite("o", "unrelated quote")),
    "tn1": answer(abstained=True),
    "tn2": answer("Made up [1].", cite("g")),
    "to1": answer(abstained=True),
    "tw1": answer("", cite("g"), cite("o", marker=2), kind="list"),
    "tm1": answer("560 [1] and 6,655 [2].", cite("g"), cite("o", marker=2)),
    "tf1-first": answer("GUIDE is a dataset [1].", cite("g")),
    "tf1": answer("8 [1].", cite("g", "in 8 domains", "8 domains"), standalone="GUIDE domains?"),
}


class Stub:
    def __init__(self) -> None:
        self.histories: dict[str, list[Message]] = {}

    def __call__(self, _a: Assistant, question: str, history: Sequence[Message]) -> Answer:
        self.histories[question] = list(history)
        return SCRIPT[question]


def run(*cases: U.UserCase, stub: Stub | None = None) -> dict[str, float | None]:
    result = U.run_user(cast(Assistant, None), world(*cases), chat=stub or Stub())
    return result.values


ALL = (
    case("a", "paraphrase", "test", "tp1", gold_ids=["g"], key_facts=FACT),
    case("b", "paraphrase", "test", "tp2", gold_ids=["g"], key_facts=FACT),
    case("c", "paraphrase", "dev", "dp1", gold_ids=["g"], key_facts=FACT),
    case("d", "near_miss", "test", "tn1"),
    case("e", "near_miss", "test", "tn2"),
    case("f", "off_topic", "test", "to1"),
    case("g", "which_papers", "test", "tw1", gold_ids=["g"]),
    case("h", "multi", "test", "tm1", gold_ids=["g", "o"], key_facts=[["560"], ["6,655"]]),
    case("i", "followup", "test", "tf1", first_turn="tf1-first", gold_ids=["g"], key_facts=[["8"]]),
)


def test_suite_reports_each_split_separately() -> None:
    v = run(*ALL)
    assert v["test_false_abstention"] == 0.5 and v["dev_false_abstention"] == 0.0
    assert v["test_key_fact_recall"] == 0.5  # span-only fact counts; abstention scores 0
    assert v["test_span_key_fact"] == 0.5
    assert v["dev_key_fact_recall"] == 1.0 and v["dev_span_key_fact"] == 0.0  # text, no span
    assert v["test_mean_span_words"] == 1.0 and v["dev_mean_span_words"] is None
    assert v["test_span_marked_rate"] == 1.0 and v["dev_span_marked_rate"] == 0.0
    assert v["test_citation_gold_hit"] == 1.0 and v["dev_citation_gold_hit"] == 0.0
    assert v["test_abstention_near_miss"] == 0.5 and v["test_abstention_off_topic"] == 1.0
    assert v["test_paper_recall"] == 1.0 and v["test_paper_precision"] == 0.5
    assert v["test_list_kind_rate"] == 1.0
    assert v["test_multi_key_fact_recall"] == 1.0
    assert v["test_resolved_names_paper"] == 1.0 and v["test_followup_key_fact"] == 1.0
    assert v["dev_abstention_near_miss"] is None and v["dev_paper_recall"] is None


def test_follow_up_gets_turn_one_as_history() -> None:
    stub = Stub()
    run(ALL[-1], stub=stub)
    assert stub.histories["tf1-first"] == []
    assert stub.histories["tf1"] == [
        {"role": "user", "content": "tf1-first"},
        {"role": "assistant", "content": "GUIDE is a dataset [1]."},
    ]


def test_unresolved_follow_up_does_not_name_the_paper() -> None:
    SCRIPT["tf2"] = answer("8 [1].", cite("g", "in 8 domains", "8 domains"))  # no rewrite
    try:
        j = case("j", "followup", "test", "tf2", first_turn="tf1-first", gold_ids=["g"])
        v = run(j.model_copy(update={"key_facts": [["8"]]}))
    finally:
        del SCRIPT["tf2"]
    assert v["test_resolved_names_paper"] == 0.0


def test_empty_split_is_none_and_not_failed_by_the_gate() -> None:
    result = U.run_user(cast(Assistant, None), world(ALL[2]), chat=Stub())  # one dev row only
    assert result.values["test_key_fact_recall"] is None
    assert "test_key_fact_recall" in result.info["unmeasured"]
    assert result.values["dev_key_fact_recall"] == 1.0
    gates = {"user": {"test_key_fact_recall": Threshold(min=0.5, goal=0.85)}}
    out = apply_gate(EvalResult(suites=[result]), gates)
    assert out.passed
    metric = next(m for m in out.metrics if m.name == "test_key_fact_recall")
    assert not metric.gated and "not measured" in metric.help


def test_a_none_from_answers_still_fails_the_gate() -> None:
    """Only an empty split is excused: no spans at all (None from the answers) still fails."""
    result = U.run_user(cast(Assistant, None), world(*ALL[1:3]), chat=Stub())
    assert result.values["test_mean_span_words"] is None
    assert "test_mean_span_words" not in result.info["unmeasured"]
    gates = {"user": {"test_mean_span_words": Threshold(min=1.0, goal=3.0)}}
    assert not apply_gate(EvalResult(suites=[result]), gates).passed


def test_failing_cases_say_why() -> None:
    result = U.run_user(cast(Assistant, None), world(*ALL), chat=Stub())
    why = {c.id: c.why for c in result.cases}
    assert why["a"] == [] and why["h"] == []
    assert why["b"] == ["abstained on an answerable question"]
    assert why["e"] == ["answered instead of abstaining"]
    assert any("precision 0.50" in w for w in why["g"])
    assert all(c.details["split"] in ("dev", "test") for c in result.cases)


def test_chat_for_passes_history_only_to_the_default() -> None:
    assert U.chat_for(S.default_answer) is U.default_chat
    seen: list[str] = []

    def one_arg(_a: Assistant, question: str) -> Answer:
        seen.append(question)
        return answer("x")

    U.chat_for(one_arg)(cast(Assistant, None), "q", [{"role": "user", "content": "t1"}])
    assert seen == ["q"]


# --- registration and thresholds ---------------------------------------------------------------


def test_thresholds_name_only_test_metrics_the_suite_produces() -> None:
    gates = load_thresholds(THRESHOLDS_FILE)["user"]
    produced = set(run(*ALL))
    assert gates and set(gates) <= produced
    assert all(name.startswith("test_") for name in gates)
    assert all(t.goal is not None for t in gates.values())
    assert "user" in SUITES


def _small(dest: Path, n: int) -> Path:
    dest.mkdir()
    for f in FIXTURES_DIR.glob("*.jsonl"):
        lines = [x for x in f.read_text("utf-8").splitlines() if x.strip()]
        keep = lines if f.name in ("tldr_facts.jsonl", "judge_labelled.jsonl") else lines[:n]
        (dest / f.name).write_text("\n".join(keep) + "\n", "utf-8")
    return dest


def test_runner_ingests_and_runs_the_user_suite(tmp_path: Path) -> None:
    result = run_suites(
        ["user"],
        Settings.model_validate({"data_dir": tmp_path / "unused"}),
        llm=FakeLLM(default_text="Nothing here."),
        embedder=FakeEmbedder(),
        fixtures_dir=_small(tmp_path / "fx", 2),
        thresholds=load_thresholds(THRESHOLDS_FILE),
        temp_parent=tmp_path,
        progress=False,
        log=None,
    )
    suite = result.suites[0]
    assert suite.name == "user" and "chunks" in result.meta  # the corpus was ingested
    assert len(suite.cases) == 10
    assert not [m for m in suite.metrics if "does not produce" in m.help]
    rows = json.dumps(suite.info["rows"])
    assert "test_paraphrase" in rows and suite.info["gated_on"] == "test"
