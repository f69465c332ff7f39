"""The noun a question asks about and the strict slot check (assistant.evidence.nouns)."""

from __future__ import annotations

import pytest

from assistant import evidence
from assistant.evidence import nouns
from assistant.evidence.terms import question_kind


def _noun(question: str) -> nouns.AskedNoun | None:
    return nouns.asked_noun(question, question_kind(question))


@pytest.mark.parametrize(
    ("question", "words", "kind"),
    [
        ("What batch size did the Alpha authors train with?", ("batch", "size"), "quantity"),
        ("Which base LLM is Alpha fine-tuned from?", ("base", "llm"), "name"),
        ("Which two datasets was Alpha evaluated on?", ("datasets",), "name"),
        ("Which CLIP image encoder (ViT-B/16, ResNet-50) does Alpha use?", None, "name"),
        ("Which image understanding and generation model is Alpha built on?", None, "name"),
        ("What is the hidden size of the encoder?", ("hidden", "size"), "quantity"),
        ("What is the number of layers in Alpha?", ("layers",), "quantity"),
        ("What is the name of the base model of Alpha?", ("base", "model"), "name"),
        ("How many GPU hours did training take?", ("gpu", "hours"), "quantity"),
        ("By how much does Alpha improve over Beta?", None, "gain"),
        ("What accuracy gain does Alpha get?", ("accuracy", "gain"), "gain"),
        ("What fraction of the data does Alpha keep?", ("fraction",), "percent"),
        ("How long did it take to train Alpha?", ("time",), "duration"),
        ("Who funded the Alpha work?", ("funded",), "name"),
    ],
)
def test_asked_noun(question: str, words: tuple[str, ...] | None, kind: str) -> None:
    noun = _noun(question)
    assert noun is not None and noun.kind == kind
    if words is not None:
        assert noun.words == words
    if "CLIP" in question:
        assert noun.head == "encoder"  # the aside in parentheses is skipped
    if "generation model" in question:
        assert noun.head == "model"


@pytest.mark.parametrize(
    "question",
    [
        "What is Alpha?",
        "What kind of architecture does Alpha use?",  # a description, not a name
        "What technique does Alpha use to align frames?",
        "How large is the Alpha dataset?",  # measured in any words
        "What is the size of the Alpha dataset?",
        "What is the main contribution of Alpha?",
        "What does Alpha boost on BIG-Bench?",  # a verb, not "what gain"
    ],
)
def test_no_asked_noun(question: str) -> None:
    assert _noun(question) is None


def _filled(question: str, sentence: str, abstract: str = "") -> bool | None:
    noun = _noun(question)
    assert noun is not None
    return nouns.filled(noun, sentence, question, nouns.acronyms([abstract or sentence]))


def test_a_measure_word_needs_its_modifier() -> None:
    q = "What batch size did the Alpha authors train with?"
    assert _filled(q, "Alpha works with LMs of different sizes (1.3B - 175B).") is None
    assert _filled(q, "We train with a batch size of 256.") is True
    assert _filled(q, "The batch size matters a lot.") is False


def test_a_name_must_sit_next_to_the_noun() -> None:
    q = "Which base LLM is Alpha fine-tuned from?"
    # "model" stands for "LLM", but the names there are benchmarks, far from it
    far = "Alpha outperformed the base model by at least 9% on GSM8K, IFEval, and MathQA."
    assert _filled(q, far) is False
    assert _filled(q, "Alpha is fine-tuned from the Qwen2.5 base model.") is True
    assert _filled(q, "We use Llama-3 as the base LLM.") is True


def test_a_count_is_no_name_and_a_list_is() -> None:
    q = "Which two datasets was Alpha evaluated on?"
    assert _filled(q, "Results on two datasets show gains.") is False
    assert _filled(q, "Results on the GSM8K and HotpotQA datasets show gains.") is True
    q2 = "Which tasks does Alpha unify?"
    assert _noun(q2) is None  # tasks are described, not named
    q3 = "Which benchmarks was Alpha evaluated on?"
    listed = "Alpha wins on two benchmarks for scene understanding (i.e., PASCAL and NYUD-v2)."
    assert _filled(q3, listed) is True
    colon = "We present three findings across 4 benchmarks: First, compared to both baselines."
    assert _filled(q3, colon) is False


def test_names_without_the_noun_count_unless_they_name_something_else() -> None:
    q = "From which datasets is the training set of Alpha built?"
    assert _filled(q, "We construct a training set from UnifiedQA and CrossFit.") is True
    q2 = "Which pretrained sentence encoder does Alpha use?"
    other = "We adopt techniques including Same Topic Prediction (STP) and Topic Sorting (TS)."
    assert _filled(q2, other) is None


def test_acronyms_an_abstract_defines() -> None:
    abstract = "We use large language models (LLMs) to write queries."
    assert nouns.acronyms([abstract])["llm"][-1] == "model"


def test_gains_shares_and_durations_need_the_right_value() -> None:
    gain = "By how much did Alpha improve online metrics?"
    assert _filled(gain, "Alpha achieves big improvements; we observe three anomalies.") is False
    assert _filled(gain, "Alpha improves the click rate by 2.3%.") is True
    assert _filled("What fraction of the data does Alpha keep?", "It keeps 10% of it.") is True
    assert _filled("How long did it take to train Alpha?", "It was trained on 8 GPUs.") is False
    assert _filled("How long did it take to train Alpha?", "Training took 3 days.") is True


def test_noun_features_read_the_lead_sentences() -> None:
    q = "How many expert networks does Alpha use in each layer?"
    k = question_kind(q)
    assert nouns.noun_features(q, k, ["Alpha uses a set of expert networks."], []) == (0.0, 1.0)
    assert nouns.noun_features(q, k, ["Alpha uses 8 expert networks per layer."], []) == (0.0, 0.0)
    assert nouns.noun_features(q, k, ["Alpha is fast."], []) == (1.0, 0.0)
    assert nouns.noun_features("What is Alpha?", "open", ["Alpha is fast."], []) == (0.0, 0.0)


def test_decide_sees_the_noun_features() -> None:
    abstract = "Alpha is a retriever. It helps LMs of all sizes."
    src = evidence.Source(key=1, paper_id="p1", title="Alpha", abstract=abstract)
    q = "What batch size did the Alpha authors train with?"
    ranked = evidence.rank_sentences(q, [src], None)
    decision = evidence.decide(q, ranked, [src])
    assert decision.features["noun_absent"] == 1.0
    assert decision.features["noun_unfilled"] == 0.0
