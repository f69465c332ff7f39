"""Does a model answer sentence give what the question asks for?

A sentence can be true of the cited paper and still not answer: "It contains 3.5K videos of
560 instructional tasks in 8 domains." for "What sub-tasks make up the GUIDE benchmark?". The
answerer shows a model sentence only when it also passes this check; otherwise the verbatim
evidence stands alone. The question's asked noun (:func:`assistant.evidence.nouns.asked_noun`:
"sub-tasks", "pretrained encoder", "batch size") must be filled in the sentence by a value of
its type, as the answerability scorer requires of an evidence sentence: a name or a list for
"which X", a number for "how many X", the items listed or named for "What sub-tasks make up
X?". A "how many / how much" question without a parsed noun needs a number the question does
not contain. Open questions ("What does X do?") are not checked. A compound question passes
when the sentence answers one of its parts.

The same question reading as the answerability scorer's (:mod:`.nouns`, :mod:`.terms`), applied
to what the model wrote instead of to the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.evidence.nouns import AskedNoun, acronyms, asked_noun, filled
from assistant.evidence.terms import question_kind, sub_questions
from assistant.grounding.textnorm import extract_numbers

__all__ = ["relevance_issue"]

# "How large / how well ...?" is answered in words too; "how many / how much" by a number.
_COUNT = re.compile(r"\bhow (?:many|much)\b", re.IGNORECASE)
# "What sub-tasks / which components ...?" asks for the items themselves: a list or names.
_PLURAL = re.compile(
    r"^\s*(?:which|what)\s+(?:(?!of\b)[\w-]+\s+){0,3}?([\w-]+)\s+(?:do|does|did|is|are|was|were|make|"
    r"makes|made|have|has|had|can|could|would|will)\b",
    re.IGNORECASE,
)
_NOT_ITEMS = {"kinds", "types", "sorts", "forms", "ways", "aspects", "results", "benefits"}


def _items_noun(question: str) -> AskedNoun | None:
    """The plural noun of "What sub-tasks make up X?" (its last part: "tasks"), when the
    nouns module asks for none."""
    m = _PLURAL.match(question)
    head = m.group(1).lower().split("-")[-1] if m else ""
    plural = len(head) >= 4 and head.endswith("s") and not head.endswith(("ss", "us", "is"))
    return AskedNoun((head,), "name") if plural and head not in _NOT_ITEMS else None


# "its sub-tasks are A, B and C": the items right after the noun and a copula
_ITEMS_AFTER = (
    r"\b[\w-]*{head}\b\W+(?:\w+\s+)?(?:are|were|include|includes|included|consist of|comprise)"
    r"\s+(?P<items>[^.;:()]+)"
)
_ITEM_SPLIT = re.compile(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")


def _lists_items(noun: AskedNoun, sentence: str) -> bool:
    pattern = re.compile(_ITEMS_AFTER.format(head=re.escape(noun.head)), re.IGNORECASE)
    for m in pattern.finditer(sentence):
        items = [x for x in _ITEM_SPLIT.split(m.group("items").strip()) if x.strip()]
        if len(items) >= 2 and all(len(x.split()) <= 5 for x in items):
            return True
    return False


def _part_issue(sentence: str, question: str, acro: dict[str, tuple[str, ...]]) -> str:
    kind = question_kind(question)
    noun = asked_noun(question, kind) or _items_noun(question)
    if noun is None:
        if _COUNT.search(question) and not extract_numbers(sentence) - extract_numbers(question):
            return "gives no number, and the question asks for one"
        return ""
    if filled(noun, sentence, question, acro) is True or (
        noun.kind == "name" and _lists_items(noun, sentence)
    ):
        return ""
    return f"does not give the {' '.join(noun.words)} the question asks for"


def relevance_issue(sentence: str, question: str, abstracts: Sequence[str]) -> str:
    """Why ``sentence`` does not answer ``question`` (read against the cited ``abstracts``,
    whose acronyms count as the asked noun), or ""."""
    if not question.strip():
        return ""
    acro = acronyms(abstracts)
    issues = [_part_issue(sentence, part, acro) for part in sub_questions(question)]
    return "" if any(not i for i in issues) else issues[0]
