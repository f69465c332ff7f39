"""The evidence ranker, the answerability decision and the answer span (assistant.evidence)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import evidence
from assistant.evidence import scorer, terms
from assistant.testing import FakeEmbedder


def _span(question: str, sentence: str) -> str:
    span = evidence.mark_span(question, sentence)
    return sentence[span[0] : span[1]] if span else ""


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many parameters does Cappy have?", "quantity"),
        ("What batch size did they train with?", "quantity"),
        ("By how much does PCP improve over fine-tuning?", "quantity"),
        ("Which dataset is Uni-CoT evaluated on?", "name"),
        ("What backbone does TaskExpert use?", "name"),
        ("What is the core idea behind successive prompting?", "open"),
        ("What problem does Tree-of-Code solve?", "open"),
        ("Who funded the UniVTG work?", "name"),
        ("What GPU did the Cappy authors use?", "name"),
        ("Which feature is most informative for frost heave?", "open"),
    ],
)
def test_question_kind(question: str, kind: str) -> None:
    assert evidence.question_kind(question) == kind


def test_head_terms_name_what_is_asked_for() -> None:
    assert terms.head_terms("How many GPU hours did it take to train Uni-CoT?") == {"gpu", "hour"}
    assert "backbon" in terms.head_terms("Which backbone network does TaskExpert use?")
    assert terms.head_terms("Which 11 LLMs were evaluated?") == {"llm"}  # counts are not heads
    # "how large is X": the thing measured is the subject
    assert terms.head_terms("How large is the GUIDE dataset?") == {"dataset"}
    assert terms.head_terms("How big is the data pool that mmSSR selects from?") == {"pool"}


def test_slot_filled_tells_a_count_from_a_name() -> None:
    q = "Which two datasets was it evaluated on?"
    head = terms.head_terms(q)
    assert terms.slot_filled(q, "Results on two datasets show gains.", "name", head) == 0.0
    named = "Results on the GSM8K and HotpotQA datasets show gains."
    assert terms.slot_filled(q, named, "name", head) == 1.0
    assert terms.slot_filled(q, "We propose a method.", "name", head) is None


def test_number_span_takes_the_number_next_to_what_is_asked() -> None:
    sentence = "M4LE has 36 NLP datasets, 11 task types and 12 domains."
    assert _span("How many domains does M4LE span?", sentence) == "12 domains"
    assert _span("How many task types does M4LE have?", sentence) == "11 task types"


def test_number_words_and_units_are_spans() -> None:
    s = "With merely 360 million parameters, Cappy outperforms larger models."
    assert _span("How many parameters does Cappy have?", s) == "360 million parameters"
    s2 = "The scenario includes five different types of abilities."
    assert _span("How many kinds of ability does it probe?", s2).startswith("five")


def test_name_span_and_lists() -> None:
    s = "Results on the image generation benchmark (WISE) and editing benchmarks (RISE and KRIS)."
    assert "WISE" in _span("Which image generation benchmark is it tested on?", s)
    s2 = "Cappy cooperates with other adaptations, including finetuning and in-context learning."
    assert "in-context learning" in _span("Which adaptations can Cappy be combined with?", s2)


def test_span_is_inside_the_sentence_and_short() -> None:
    s = "We evaluate on a wide range of tasks and show consistent improvements over baselines."
    span = evidence.mark_span("What does it improve over?", s)
    assert span is not None
    start, end = span
    assert 0 <= start < end <= len(s)
    assert len(s[start:end].split()) <= evidence.spans.MAX_SPAN_WORDS


def _weights(tmp_path: Path) -> evidence.Weights:
    data = {
        "sentence": {"focus": 4.0, "quantity_match": 2.0, "bias": -3.0},
        "question": {"best_sentence": 6.0, "slot_missing_only": -4.0, "bias": -3.0},
        "threshold": 0.5,
    }
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data), "utf-8")
    evidence.load_weights.cache_clear()
    return evidence.load_weights(path)


def _source(abstract: str, title: str = "Alpha: a model") -> evidence.Source:
    return evidence.Source(key=1, paper_id="p1", title=title, abstract=abstract)


def test_ranker_puts_the_answering_sentence_first(tmp_path: Path) -> None:
    w = _weights(tmp_path)
    src = _source("We study parsing. Alpha uses 12 layers of attention. It is fast.")
    ranked = evidence.rank_sentences("How many layers does it use?", [src], None, weights=w)
    assert ranked[0].sentence == "Alpha uses 12 layers of attention."
    assert ranked[0].span_text.startswith("12 layers")
    assert ranked[0].score > ranked[-1].score


def test_decide_declines_the_near_miss_pattern(tmp_path: Path) -> None:
    w = _weights(tmp_path)
    src = _source("We evaluate Alpha on two datasets. Alpha improves accuracy.")
    q_near = "Which two datasets was Alpha evaluated on?"
    ranked = evidence.rank_sentences(q_near, [src], None, weights=w)
    near = evidence.decide(q_near, ranked, [src], w)
    assert near.features["slot_missing_only"] == 1.0
    src2 = _source("We evaluate Alpha on the GSM8K and HotpotQA datasets.")
    ranked2 = evidence.rank_sentences(q_near, [src2], None, weights=w)
    answered = evidence.decide(q_near, ranked2, [src2], w)
    assert answered.features["slot"] == 1.0
    assert answered.probability > near.probability
    assert not evidence.decide(q_near, [], [src], w).answerable


def test_dense_similarity_feeds_the_features() -> None:
    src = _source("Alpha parses sentences. Beta cooks rice.")
    sims = scorer._cosines("Alpha parses sentences.", ["Alpha parses sentences."], FakeEmbedder())
    assert sims[0] == pytest.approx(1.0, abs=1e-5)
    ranked = evidence.rank_sentences("What does Alpha parse?", [src], FakeEmbedder())
    assert {c.features["dense"] for c in ranked} != {0.0}


def test_shipped_weights_cover_every_feature() -> None:
    evidence.load_weights.cache_clear()
    w = evidence.load_weights()
    assert set(w.sentence) == set(evidence.FEATURES)
    assert set(w.question) == set(evidence.QUESTION_FEATURES)
    assert 0.0 < w.threshold < 1.0
    assert "dev" in str(w.meta.get("fitted_on", ""))


def test_compound_questions_split_into_parts() -> None:
    q = "How many languages does xP3 span, and across how many task families was UDR tested?"
    assert evidence.sub_questions(q) == [
        "How many languages does xP3 span?",
        "across how many task families was UDR tested?",
    ]
    assert evidence.sub_questions("Compare the Cappy scorer with the T5 student.") == [
        "the Cappy scorer?",
        "the T5 student?",
    ]
    # one question, or a part that only makes sense with the first ("it"), stays whole
    assert evidence.sub_questions("How many parameters does Cappy have?") == [
        "How many parameters does Cappy have?"
    ]
    q2 = "Which LLM does LG-ANNA build on, and how many tasks is it evaluated on?"
    assert evidence.sub_questions(q2)[-1] == q2


def test_question_weights_keep_their_declared_signs() -> None:
    evidence.load_weights.cache_clear()
    w = evidence.load_weights()
    for name, sign in evidence.QUESTION_SIGNS.items():
        assert sign * w.question[name] >= 0, name


def test_sign_constrained_fit_holds_a_wrong_way_weight_at_zero() -> None:
    import numpy as np

    from evals.fit_answerability import _newton

    rng = np.random.default_rng(0)
    good = rng.normal(size=200)
    spurious = rng.normal(size=200)
    y = (good + 0.8 * spurious + rng.normal(scale=0.3, size=200) > 0).astype(float)
    X = np.column_stack([good, spurious, np.ones(200)])
    free = _newton(X, y, bias=2)
    assert free[1] > 0.5  # unconstrained, the fit uses the spurious feature
    held = _newton(X, y, bias=2, signs=[1, -1, 0])
    assert held[1] == 0.0 and held[0] > 0.5  # constrained, it may not take that sign


def _cand(src: evidence.Source, sentence: str, score: float) -> evidence.Candidate:
    return evidence.Candidate(source=src, sentence=sentence, index=0, features={}, score=score)


def test_a_second_sentence_of_the_lead_paper_leads_when_nearly_as_likely() -> None:
    from assistant.gather import SECOND_LEAD_RATIO, leads_for

    a = _source("x")
    b = evidence.Source(key=2, paper_id="p2", title="Beta", abstract="y")
    q = "How does Alpha train?"
    close = [_cand(a, "A1.", 0.8), _cand(b, "B1.", 0.7), _cand(a, "A2.", 0.8 * SECOND_LEAD_RATIO)]
    assert [c.sentence for c in leads_for(q, close, [a, b])] == ["A1.", "A2."]
    far = [_cand(a, "A1.", 0.8), _cand(a, "A2.", 0.79 * SECOND_LEAD_RATIO)]
    assert [c.sentence for c in leads_for(q, far, [a])] == ["A1."]
    other_paper = [_cand(a, "A1.", 0.8), _cand(b, "B1.", 0.79)]
    assert [c.sentence for c in leads_for(q, other_paper, [a, b])] == ["A1."]


def test_a_question_for_several_names_gets_the_whole_list() -> None:
    s = "We evaluated our model on several medical (ACDC, LVSC, CHAOS) and non-medical (PPSS) sets."
    assert _span("Which medical datasets was it evaluated on?", s) == "ACDC, LVSC, CHAOS"
    s2 = "We evaluate IRanker-3B on nine datasets across three tasks: recommendation, routing."
    assert _span("Which tasks is IRanker tried on?", s2) == "recommendation, routing"
    assert terms.asks_for_several("Which benchmarks were used?")
    assert not terms.asks_for_several("Which dataset is it evaluated on?")


def test_a_question_for_a_gain_gets_the_percentage() -> None:
    s = "Results on two datasets with ten LLMs show ToC boosts accuracy by nearly 20% over CodeAct."
    assert _span("How much does Tree-of-Code improve over CodeAct?", s).startswith("20%")
    s2 = "ShapefileGPT achieved a task success rate of 95.24%, outperforming the GPT series."
    assert _span("What task success rate does ShapefileGPT report?", s2).startswith("95.24%")


# --- span kinds by question type (issue 16: the span holds the key fact) ----------------------
# Sentences are made up in the style of abstracts; none is a fixture row.


def test_the_thing_a_paper_introduces_is_the_span() -> None:
    s = "To model long context, we design a cross-layer token cache that is updated per layer."
    q = "What extra module passes context between layers?"
    assert _span(q, s) == "cross-layer token cache"
    s2 = "Our system adopts a select-then-verify strategy for pruning, with a learned threshold."
    assert "select-then-verify" in _span("What technique does the system use to prune?", s2)


def test_an_introduced_phrase_that_repeats_the_question_runs_on_to_its_clause() -> None:
    s = "We propose a novel data filtering method that exploits loss curvature during training."
    span = _span("What new filtering trick do the authors propose?", s)
    assert "loss curvature" in span


def test_a_how_question_gets_the_method_clause() -> None:
    s = (
        "Our idea is to turn the search into a pruning process that removes the least likely "
        "branch from the frontier at every step, which saves memory."
    )
    assert "least likely branch" in _span("How does the planner break the search into steps?", s)


def test_several_things_asked_get_the_whole_list() -> None:
    s = "The model is tested in four settings: translation, parsing, tagging, and summarization."
    assert "tagging, and summarization" in _span("Which kinds of settings is it tested in?", s)
    s2 = "It introduces a two-stage design: A Coarse stage for layout and A Fine stage for detail."
    span = _span("What are the two stages of the design?", s2)
    assert "Coarse" in span and "Fine" in span


def test_a_kind_of_question_gets_the_qualifier_of_its_noun() -> None:
    s = "We report the lessons learned at large-scale e-commerce services over two years."
    q = "What kind of online service is the work from?"
    assert _span(q, s) == "large-scale e-commerce services"


def test_a_stranded_preposition_points_at_its_object() -> None:
    s = "A gating network picks experts based on their overlap with seed prompts, cheaply."
    assert "overlap with seed prompts" in _span("What does the gating network base its pick on?", s)


def test_a_superlative_question_gets_what_the_sentence_singles_out() -> None:
    s = "Models handle short inputs well but struggle, especially when answers span several pages."
    assert "answers span several pages" in _span("What do models find hardest here?", s)


def test_list_enumerators_are_not_counts() -> None:
    s = "The pipeline is split into three parts: (1) parsing input, (2) planning, and (3) output."
    assert _span("How many parts does the pipeline have?", s).startswith("three")


def test_a_head_worded_differently_falls_back_to_the_question_words() -> None:
    # "pool" is not in the sentence; the question's "data" is, next to the number it sizes
    s = "Across 9 settings and 5 benchmarks, we keep 95% of accuracy using 20% of the 1.2M data."
    assert _span("How big is the data pool it selects from?", s).startswith("1.2M")


def test_a_question_asking_two_things_gets_one_span_over_both_answers() -> None:
    s = "We release the Alpha corpus, which holds 4,210 spoken dialogs covering nine domains."
    span = _span("How many dialogs does Alpha hold, and across how many domains?", s)
    assert "4,210" in span and "nine" in span
    far = (
        "Alpha holds 4,210 spoken dialogs that were collected by crowd workers over several "
        "months from many different cities and then checked twice by experts, in nine domains."
    )
    assert _span("How many dialogs does Alpha hold, and across how many domains?", far) == (
        "4,210 spoken dialogs"  # too far apart to read as one span: the first part's answer
    )


def test_a_list_after_including_is_the_span_for_several_names() -> None:
    s = "We add auxiliary tasks including Order Prediction (OP), Gap Filling (GF) and Masking (M)."
    span = _span("Which auxiliary tasks does the model add?", s)
    assert "Order Prediction" in span and "Masking" in span
