"""Judge checks added for issue 15's remaining leaks, one error kind at a time: verbs in any
regular form as relation pivots, background sentences and what the paper itself introduces,
negation scope to the clause's end, and the framing checks of :mod:`assistant.grounding.framing`
(a proposal the abstract does not make, the paper's method as what it improves, an item listed
twice, an answer sentence cut off). Every bad claim is made of its source's own words; each
faithful control must still pass.
"""

from __future__ import annotations

import pytest

from assistant import grounding
from assistant.grounding.claims import is_verb, subject_of, tokens
from assistant.grounding.framing import unfinished

TITLE = "Quill: A Multi-Range Multi-Domain Benchmark for Long-Context Evaluation"
ABSTRACT = (
    "Vector stores are one of the two core structures in retrieval systems, essential for "
    "accurately storing document representations. "
    "Meta-learning allows one to leverage smaller models for few-shot generalization. "
    "In this paper, we propose Quill, a Multi-range, Multi-domain benchmark for Long-context "
    "Evaluation. "
    "Quill refines the representation of each document by employing a gating network. "
    "Our method learns a mapping from metadata to embeddings (i.e., it does not need to learn "
    "one embedding per item). "
    "Quill not only improves recall on long documents but also reduces latency. "
    "Each query is labelled as relevant or not (i.e., by two annotators). "
    "The alignment score serves as a navigator to refine the labelling process. "
    "Experiments show that Quill enhances retrieval accuracy on the MTEB dataset."
)
SOURCE = TITLE + "\n\n" + ABSTRACT

SURVEY = (
    "Transformer Methods in NLP: A Survey\n\n"
    "Multi-task learning has emerged as a promising approach to improve efficiency. "
    "We first provide an overview of transformer-based multi-task approaches in NLP. "
    "Then, we discuss the challenges of multi-task approaches throughout deployment."
)


def verdict(claim: str, source: str = SOURCE) -> grounding.Support:
    return grounding.score_support(claim, [source])


GOOD = [
    "Quill refines the representation of each document by employing a gating network.",
    "Quill not only improves recall on long documents but also reduces latency.",
    "Quill improves recall on long documents.",  # "not only A" still says A
    "The authors propose Quill, a Multi-range, Multi-domain benchmark for Long-context "
    "Evaluation.",  # light paraphrase of the abstract, close to the title but not an echo
    "Experiments show that Quill enhances retrieval accuracy on the MTEB dataset.",
    "Vector stores are one of the two core structures in retrieval systems.",  # background,
    # stated of what it is about
]

BAD = {
    # a regular verb form ("refines", "enhances") is a pivot: the two sides swapped
    "role swap, refines": "The representation of each document refines Quill by employing a "
    "gating network.",
    "role swap, enhances": "Experiments show that retrieval accuracy enhances Quill on the "
    "MTEB dataset.",
    # a background sentence's predicate glued to the paper's method
    "clause graft from background": "Quill is one of the two core structures in retrieval "
    "systems, essential for accurately storing document representations.",
    "baseline as method, background": "Our method allows one to leverage smaller models for "
    "few-shot generalization.",
    # "performance"-like nouns do not end the subject: "The alignment score" is what serves
    "clause graft, noun subject": "The labelling performance serves as a navigator to refine "
    "the labelling process.",
    "negation scope": "Quill learns one embedding per item.",
    "negation before a parenthesis": "Each query is labelled as relevant or (i.e., by two "
    "annotators).",
    "own method as what is improved": "This paper proposes a new method to enhance the "
    "retrieval accuracy of Quill.",
    "item listed twice": "Quill is a multi-range, multi-domain, and multi-domain benchmark.",
    "with ease": "Quill refines the representation of each document with ease.",
}


@pytest.mark.parametrize("claim", GOOD)
def test_faithful_claims_pass(claim: str) -> None:
    got = verdict(claim)
    assert got.supported, (claim, got.reason)


@pytest.mark.parametrize("kind", sorted(BAD))
def test_false_claims_are_refused_with_a_reason(kind: str) -> None:
    got = verdict(BAD[kind])
    assert not got.supported and got.reason, (kind, got.score)


def test_a_survey_proposes_nothing_new() -> None:
    got = verdict("This paper proposes a new approach to transformer-based multi-task NLP.", SURVEY)
    assert not got.supported and "proposes nothing" in got.reason
    assert verdict(
        "We provide an overview of transformer-based multi-task approaches in NLP.", SURVEY
    ).supported


def test_a_cut_off_answer_sentence_is_refused_but_a_list_item_is_not() -> None:
    sources = {1: SOURCE}
    [cut] = grounding.check_sentences(
        "Quill refines the representation of each document [1]", sources
    )
    assert not cut.supported and cut.support.reason.startswith("unfinished")
    items = grounding.check_sentences(
        "Quill is a benchmark.\n1. Quill refines the representation of each document [1]", sources
    )
    assert items[-1].supported, items[-1].support.reason
    assert unfinished("x", "They propose a feature") and not unfinished("x", "They propose it.")


def test_verb_forms_and_nouns() -> None:
    enhances, performance, training = tokens("enhances performance training")
    assert is_verb(enhances) and not is_verb(performance) and not is_verb(training)
    subject = subject_of(tokens("The annotation performance serves as a navigator."))
    assert [t.text for t in subject] == ["The", "annotation", "performance"]
