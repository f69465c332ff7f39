"""The structure checks of the grounding judge, one error kind at a time.

Every bad claim below is made only of its source's own words (the lexical judge alone passes
most of them: the last test shows it), and each faithful control must still pass.
"""

from __future__ import annotations

import pytest

from assistant import grounding
from assistant.grounding import judge
from assistant.grounding.claims import method_names, tokens

TITLE = "Zephyr: A Small Scorer that Boosts Multi-Task Language Models"
ABSTRACT = (
    "Large language models demand substantial computational resources, and these models are "
    "not publicly accessible. "
    "We introduce Zephyr, a pretrained small scorer with 360 million parameters. "
    "Zephyr outperforms FLAN-T5 on 45 complex tasks from BIG-Bench. "
    "Experiments on 30 tasks across 13 task families show that Zephyr works without any "
    "task-specific modules. "
    "We train Zephyr and BERT on 500M and 1B training examples respectively. "
    "Zephyr improves accuracy on several benchmarks."
)
SOURCE = TITLE + "\n\n" + ABSTRACT


def verdict(claim: str) -> grounding.Support:
    return grounding.score_support(claim, [SOURCE])


GOOD = [
    "We introduce Zephyr, a pretrained small scorer with 360 million parameters.",  # verbatim
    "Zephyr outperforms FLAN-T5 on 45 complex tasks.",  # compression
    "The authors introduce Zephyr, a pretrained small scorer with 360 million parameters.",
    "On 45 complex tasks from BIG-Bench, Zephyr outperforms FLAN-T5.",  # clause moved
    "FLAN-T5 is outperformed by Zephyr on 45 complex tasks from BIG-Bench.",  # passive
]

BAD = {
    "role swap": "FLAN-T5 outperforms Zephyr on 45 complex tasks from BIG-Bench.",
    "number on another noun": "Experiments on 13 tasks across 30 task families show that "
    "Zephyr works without any task-specific modules.",
    "one of two values given respectively": "We train Zephyr on 500M training examples.",
    "a baseline's property given to the method": "Zephyr is not publicly accessible.",
    "baseline conjoined with the method": "Zephyr and these models demand substantial "
    "computational resources.",
    "negation dropped": "Zephyr works with any task-specific modules.",
    "negation added": "Zephyr does not outperform FLAN-T5 on 45 complex tasks from BIG-Bench.",
    "quantifier": "Zephyr improves accuracy on all benchmarks.",
    "stub": "The benchmarks Zephyr outperforms FLAN-T5 on are:",
    "tautology": "Zephyr is Zephyr.",
    "title echo": "This paper is about a small scorer that boosts multi-task language models.",
}


@pytest.mark.parametrize("claim", GOOD)
def test_faithful_claims_pass(claim: str) -> None:
    got = verdict(claim)
    assert got.supported, got.reason


@pytest.mark.parametrize("kind", sorted(BAD))
def test_false_claims_made_of_source_words_fail(kind: str) -> None:
    got = verdict(BAD[kind])
    assert not got.supported, f"{kind}: passed with score {got.score}"
    assert got.reason  # every refusal says why


def test_the_lexical_judge_alone_passes_most_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # the structure checks are what catches these, not the word overlap
    monkeypatch.setattr(judge, "STRUCTURE", False)
    passed = [kind for kind, claim in BAD.items() if verdict(claim).supported]
    assert len(passed) >= len(BAD) // 2, passed


def test_a_demonstrative_subject_citing_another_paper_fails() -> None:
    other = "Successive Prompting\n\nWe decompose a complex question into simple questions."
    sources = {1: other, 2: SOURCE}
    text = (
        "Successive Prompting decomposes a complex question into simple questions. [1] "
        "It introduces a pretrained small scorer with 360 million parameters. [2]"
    )
    first, second = grounding.check_sentences(text, sources)
    assert first.supported
    assert not second.supported and "refers back" in second.support.reason
    alone = grounding.check_sentences(text.split("[1] ")[1], sources)  # no sentence before it
    assert alone[0].supported


def test_a_claim_supported_only_by_the_title_says_nothing() -> None:
    got = verdict("This process is called a small scorer that boosts multi-task models.")
    assert not got.supported


def test_method_names_come_from_the_title_and_the_introducing_sentence() -> None:
    assert "zephyr" in method_names(TITLE)
    names = method_names("Knowing When to Stop", "We introduce a new framework, SIM-RAG, to ...")
    assert "sim-rag" in names
    assert "llm" not in method_names("Boosting LLMs", "We use LLMs.")


def test_numbers_are_single_tokens() -> None:
    keys = [t.key for t in tokens("It has 360 million parameters, five layers and 7-8B size.")]
    assert "360M" in keys and "5" in keys and "7-8B" in keys
