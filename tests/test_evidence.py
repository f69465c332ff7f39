"""The evidence-sufficiency check, coined-name detection and the TL;DR source shortening."""

from __future__ import annotations

from assistant.evidence import lexical_coverage as sufficient_evidence
from assistant.retrieve import named_papers, text_names, title_names
from assistant.testing import FakeLLM
from assistant.tldr import lead_sentences


def test_coined_names_are_found_and_title_case_compounds_are_not() -> None:
    assert title_names("M4LE: A Multi-Ability Multi-Range Benchmark") == {"M4LE"}
    assert title_names("Cappy: Outperforming Large Multi-Task LMs") >= {"Cappy"}
    assert "Multi-Task" not in title_names("Cappy: Outperforming Large Multi-Task LMs")
    assert title_names("Uni-CoT: Towards Unified Reasoning") == {"Uni-CoT"}
    assert title_names("Learning to Segment from Scribbles using Multi-scale Gates") == set()
    assert title_names("Rethinking Things: A Two Word Lead") == set()


def test_names_an_abstract_coins_for_its_own_work() -> None:
    text = (
        "In this paper, we propose Unified Demonstration Retriever (UDR), a single model. "
        "Our multi-modal rich scorers and styler (mmSSR) scale. Then, we propose ToolNet, "
        "a framework. Results are SOTA on MTEB. We fine-tune with supervised data (SFT). "
        "We evaluated our model on several medical (ACDC, LVSC) datasets."
    )
    assert text_names(text) == {"UDR", "mmSSR", "ToolNet"}


def test_named_papers_is_exact_and_ignores_names_shared_by_many_papers() -> None:
    names = {"HoME": {"p1"}, "LLM": {"p2", "p3", "p4"}}
    assert named_papers("By how much did HoME improve metrics?", names) == {"p1"}
    assert named_papers("Is there a place like home?", names) == set()
    assert named_papers("Which LLM is best?", names) == set()


def test_quantity_questions_need_a_sentence_with_a_number() -> None:
    titles = ["Alpha: A Parser"]
    q = "How many layers does the Alpha encoder stack?"
    assert sufficient_evidence(q, ["The encoder stacks many layers."], titles) == 0
    assert sufficient_evidence(q, ["The encoder stacks 12 layers."], titles) > 0
    assert sufficient_evidence(q, ["The encoder stacks twelve layers."], titles) > 0


def test_inflections_of_a_focus_term_count() -> None:
    titles = ["Beta: A Benchmark"]
    q = "Which corpora were collected for the benchmark suite?"
    assert sufficient_evidence(q, ["We release a collection of corpora."], titles) > 0
    assert sufficient_evidence(q, ["We train a classifier on images."], titles) == 0


def test_a_word_in_another_papers_title_still_counts_as_evidence() -> None:
    # "latency" is in the second paper's title; removing every title's words at once would
    # leave only "reach", which the answering sentence does not use.
    titles = ["Alpha: A Fast Parser", "Gamma: Latency Studies"]
    q = "What latency does Alpha reach?"
    texts = ["Alpha has a latency of 3 ms on phones.", "We study servers."]
    assert sufficient_evidence(q, texts, titles) > 0
    assert sufficient_evidence(q, ["Alpha parses sentences.", "We study servers."], titles) == 0


def test_lead_sentences_keep_the_first_and_the_contribution_within_budget() -> None:
    llm = FakeLLM()
    background = " ".join(f"Background sentence number {i} says little of use." for i in range(8))
    abstract = "Models are large. " + background + " We propose Zeta, a tiny scorer. It works well."
    short = lead_sentences(abstract, llm, budget=llm.count_tokens("Models are large.") + 12)
    assert short.startswith("Models are large.")
    assert "We propose Zeta, a tiny scorer." in short
    assert "Background sentence number 7" not in short
    assert lead_sentences("One short abstract. Two.", llm, budget=500) == (
        "One short abstract. Two."
    )
