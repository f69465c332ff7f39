"""The two gates on model sentences added after the shown audit (issue 15): a generated TL;DR
must be a near-compression of one abstract sentence (assistant.grounding.compression), and a
model answer sentence must give what its question asks for (assistant.evidence.relevance).
Made-up abstracts; every refused sentence is true-sounding and made of the source's own words.
"""

from __future__ import annotations

import pytest

from assistant.evidence.relevance import relevance_issue
from assistant.grounding.compression import (
    MIN_COVERAGE,
    compression_coverage,
    compression_issue,
)

TITLE = "Quill: A Multi-Range Benchmark for Long-Context Evaluation"
ABSTRACT = (
    "Long-context evaluation of language models remains expensive and noisy. "
    "In this paper, we propose Quill, a multi-range benchmark that tests long-context "
    "understanding across five domains with controlled document lengths. "
    "Quill contains 3.5K documents of 560 tasks in 8 domains. "
    "Its three sub-tasks are passage retrieval, span extraction and timeline ordering. "
    "We evaluate 11 models, including Llama-2 and GPT-4, on the RULER and LongBench datasets."
)


@pytest.mark.parametrize(
    "tldr",
    [
        # the contribution sentence, compressed, with a frame and the paper's name
        "Quill is a multi-range benchmark that tests long-context understanding across "
        "five domains.",
        "This paper proposes a new benchmark that tests long-context understanding across "
        "five domains with controlled document lengths.",
    ],
)
def test_a_compression_of_one_sentence_passes(tldr: str) -> None:
    assert compression_issue(tldr, TITLE, ABSTRACT) == ""
    share, sentence = compression_coverage(tldr, TITLE, ABSTRACT)
    assert share >= MIN_COVERAGE and sentence.startswith("In this paper, we propose Quill")


@pytest.mark.parametrize(
    "tldr",
    [
        # vague framing: "an overview of ..." holds no sentence's content
        "This paper provides an overview of the Quill benchmark, including its benefits, "
        "challenges and limitations.",
        # a title echo: the title's words do not count as a source sentence
        "This paper presents a multi-range benchmark for long-context evaluation.",
        # an invented clause glued to a true one
        "Quill is a multi-range benchmark that tests long-context understanding, which is "
        "a key aspect of retrieval systems and improves language model training.",
        # words gathered from three sentences
        "Quill evaluates 11 models on passage retrieval across 8 domains with noisy "
        "document lengths.",
    ],
)
def test_framing_title_echo_and_grafts_are_refused(tldr: str) -> None:
    issue = compression_issue(tldr, TITLE, ABSTRACT)
    assert issue.startswith("not a compression of one abstract sentence")
    assert compression_coverage(tldr, TITLE, ABSTRACT)[0] < MIN_COVERAGE


def test_a_frame_alone_is_no_compression() -> None:
    assert compression_coverage("This paper proposes a new method.", TITLE, ABSTRACT)[0] == 0.0
    assert compression_issue("This paper proposes a new method.", TITLE, ABSTRACT)


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        (
            "What sub-tasks make up the Quill benchmark?",
            "Quill's sub-tasks are passage retrieval, span extraction and timeline ordering.",
        ),  # fmt: skip
        ("How many documents does Quill contain?", "Quill contains 3.5K documents."),
        ("Which datasets is Quill evaluated on?", "Quill is evaluated on RULER and LongBench."),
        # an open question is not checked
        ("What does Quill test?", "Quill tests long-context understanding."),
        # a compound question: answering one part is enough
        (
            "How many domains does Quill cover, and which datasets were the models tested on?",
            "The models were tested on the RULER and LongBench datasets.",
        ),
    ],
)
def test_an_answering_sentence_passes(question: str, sentence: str) -> None:
    assert relevance_issue(sentence, question, [ABSTRACT]) == ""


@pytest.mark.parametrize(
    ("question", "sentence", "why"),
    [
        # true of the paper, but names no sub-task
        (
            "What sub-tasks make up the Quill benchmark?",
            "Quill contains 3.5K documents of 560 tasks in 8 domains.",
            "tasks",
        ),
        # a count question answered without a number
        (
            "How many documents does Quill contain?",
            "Quill is a multi-range benchmark of long documents.",
            "documents",
        ),
        # a "which dataset" question answered without a name
        (
            "Which datasets is Quill evaluated on?",
            "Quill is evaluated on two long-context datasets.",
            "datasets",
        ),
        # the asked noun is not spoken of at all
        (
            "Which pretrained encoder is Quill initialised from?",
            "Quill is a multi-range benchmark for long-context evaluation.",
            "encoder",
        ),
    ],
)
def test_a_true_sentence_that_does_not_answer_is_refused(
    question: str, sentence: str, why: str
) -> None:
    issue = relevance_issue(sentence, question, [ABSTRACT])
    assert issue.startswith("does not give") and why in issue


def test_how_much_without_a_noun_needs_a_new_number() -> None:
    q = "How much does Quill cost to run with 8 domains?"
    assert relevance_issue("Quill runs on 8 domains cheaply.", q, [ABSTRACT])
    assert relevance_issue("Quill costs 40 dollars to run on 8 domains.", q, [ABSTRACT]) == ""
