"""The span of an evidence sentence that answers the question: a number with its noun
("3.5K videos"), or a short phrase the question does not already say ("finetuning and
in-context learning" after "including")."""

from __future__ import annotations

import re

from assistant import grounding
from assistant.evidence.terms import (
    GENERIC,
    asks_for_several,
    head_terms,
    matches,
    new_entities,
    question_kind,
)

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens|hundreds|thousands"
)
_NUMBER = re.compile(
    r"(?<![\w.])(?:[~≈<>]\s?)?(?:\d+(?:[.,]\d+)*\+?(?:\s?(?:%|percent|x|×|[KMBkmb]\b|"
    r"million|billion|thousand|trillion))?|(?:" + _NUMBER_WORDS + r")\b)",
    re.IGNORECASE,
)
_MEASURE = re.compile(
    r"\b(?:accuracy|percent|percentage|gain|gains|improve\w*|better|boost\w*|"
    r"success rate|error rate|win rate)\b",
    re.IGNORECASE,
)
_UNIT_WORDS = 3  # a number's noun: "3.5K videos", "360 million parameters", "11 tasks"
_LIST_CUES = re.compile(
    r"\b(?:including|such as|like|namely|i\.e\.,?|e\.g\.,?|consisting of|comprising)\s+",
    re.IGNORECASE,
)
_CUES = re.compile(
    r"\b(?:called|named|dubbed|termed|on|over|against|than|across|from|to|via|by|using|"
    r"uses|use|with|as)\s+",
    re.IGNORECASE,
)
MAX_SPAN_WORDS = 12
_WORD = re.compile(r"[\w][\w.+%/-]*")


def _anchors(question: str, sentence: str) -> list[int]:
    """Offsets of the sentence's words that say what the question asks for (its head terms,
    else its focus words): the answer sits next to them."""
    wanted = head_terms(question) or (grounding.content_words(question) - GENERIC)
    out = []
    for m in _WORD.finditer(sentence):
        words = grounding.content_words(m.group())
        if words and matches(wanted, set(words)):
            out.append(m.start())
    return out


def _distance(start: int, end: int, anchors: list[int]) -> float:
    if not anchors:
        return 200.0
    return float(min(0 if start <= a < end else min(abs(a - start), abs(a - end)) for a in anchors))


def _word_end(sentence: str, start: int, n_words: int, *, commas: bool = False) -> int:
    """End offset after ``n_words`` words from ``start``, stopping at a clause boundary (a
    comma too unless ``commas``: a list after "including" runs on through its commas)."""
    stops = ";:()" if commas else ",;:()"
    end = start
    for count, m in enumerate(re.finditer(r"[^\s,;:()]+|[,;:()]", sentence[start:])):
        if m.group() in stops or count >= n_words:
            break
        if m.group() != ",":
            end = start + m.end()
    return end


def _trim(sentence: str, start: int, end: int) -> tuple[int, int] | None:
    text = sentence[start:end]
    lead = len(text) - len(text.lstrip(" ,;:("))
    text = text.strip(" ,;:(")
    text = text.rstrip(" .,;:)") if text.count("(") >= text.count(")") else text.rstrip(" .,;:")
    text = re.sub(r"(?:\s+(?:and|or|the|a|an|of|in|on|with|to))+$", "", text)
    if not text:
        return None
    return start + lead, start + lead + len(text)


def _number_span(question: str, sentence: str) -> tuple[int, int] | None:
    """The new number closest to what is asked for, with the few words of its noun."""
    q_numbers = grounding.extract_numbers(question)
    q_lower = question.lower()
    anchors = _anchors(question, sentence)
    measure = bool(_MEASURE.search(question))
    best: tuple[float, tuple[int, int]] | None = None
    for m in _NUMBER.finditer(sentence):
        token = m.group().strip()
        if token.lower() in q_lower or (
            re.search(r"\d", token) and grounding.extract_numbers(token) <= q_numbers
        ):
            continue
        start, end = m.start() + (len(m.group()) - len(m.group().lstrip())), m.end()
        tail = _word_end(sentence, end, _UNIT_WORDS)
        cost = _distance(start, tail, anchors)
        if re.fullmatch(r"(19|20)\d\d", token):  # a year rarely answers "how many"
            cost += 100
        if measure and not re.search(r"%|percent", sentence[start:tail]):
            cost += 40  # "how much better / what accuracy": a percentage, not a count
        if best is None or cost < best[0]:
            best = (cost, (start, tail))
    return _trim(sentence, *best[1]) if best else None


def _entity_span(
    question: str, sentence: str, anchors: list[int], reach: int
) -> tuple[int, int] | None:
    """The new name closest to what is asked for, with the names listed right after it."""
    found = []
    for e in new_entities(sentence, question):
        for m in re.finditer(re.escape(e), sentence):
            found.append((m.start(), m.end()))
    if not found:
        return None
    found.sort()
    start, end = min(found, key=lambda se: (_distance(se[0], se[1], anchors), se[0]))
    if _distance(start, end, anchors) > reach:
        return None
    for s2, e2 in found:  # "RISE and KRIS", "BLOOMZ and mT0": a list of names reads as one
        if s2 >= end and re.fullmatch(r"[\s,]*(?:and|or)?\s*", sentence[end:s2]):
            end = e2
    return _trim(sentence, start, end)


_PAREN_LIST = re.compile(r"\(([^()]*?(?:,|\band\b)[^()]*?)\)")
_COLON_LIST = re.compile(r":\s*([^.;:()]*?(?:,|\band\b)[^.;:()]*?)(?=[.;]|$)")


def _list_span(sentence: str, anchors: list[int], reach: int) -> tuple[int, int] | None:
    """A listed set of names next to what is asked for: "(ACDC, LVSC, CHAOS)", "three
    scenarios: recommendation, routing, and passage ranking"."""
    best: tuple[float, tuple[int, int]] | None = None
    for pattern in (_PAREN_LIST, _COLON_LIST):
        for m in pattern.finditer(sentence):
            start, end = m.span(1)
            if len(sentence[start:end].split()) > MAX_SPAN_WORDS + 4:
                continue
            cost = _distance(start, end, anchors)
            if cost <= reach and (best is None or cost < best[0]):
                best = (cost, (start, end))
    return _trim(sentence, *best[1]) if best else None


def _cue_span(question: str, sentence: str, anchors: list[int]) -> tuple[int, int] | None:
    q_words = grounding.content_words(question)
    best: tuple[float, tuple[int, int]] | None = None
    for pattern, commas in ((_LIST_CUES, True), (_CUES, False)):
        for m in pattern.finditer(sentence):
            end = _word_end(sentence, m.end(), MAX_SPAN_WORDS, commas=commas)
            text = sentence[m.end() : end]
            new = grounding.content_words(text) - q_words
            if not new:
                continue
            cost = _distance(m.start(), end, anchors) + (0 if commas else 20)
            cost -= 5 * len(new) / (1 + len(grounding.content_words(text)))
            if best is None or cost < best[0]:
                best = (cost, (m.end(), end))
    return _trim(sentence, *best[1]) if best else None


def _clause_span(question: str, sentence: str) -> tuple[int, int] | None:
    """The comma-delimited clause that adds the most words the question lacks."""
    q_words = grounding.content_words(question)
    best: tuple[int, tuple[int, int]] | None = None
    for m in re.finditer(r"[^,;:()]+", sentence):
        new = grounding.content_words(m.group()) - q_words
        if not new or len(m.group().split()) > MAX_SPAN_WORDS:
            continue
        if best is None or len(new) > best[0]:
            best = (len(new), (m.start(), m.end()))
    return _trim(sentence, *best[1]) if best else None


def mark_span(question: str, sentence: str, *, kind: str | None = None) -> tuple[int, int] | None:
    """Character span of ``sentence`` that answers ``question``, or None when none stands out.

    A quantity question gets the number nearest what it asks for, with its noun ("3.5K
    videos"); a name question the name nearest it; others a short phrase the question does
    not already say, after a cue ("including", "over", ...) near what it asks for.
    """
    kind = kind or question_kind(question)
    anchors = _anchors(question, sentence)
    if kind == "quantity" or _MEASURE.search(question):  # "what task success rate ...?"
        span = _number_span(question, sentence)
        if span:
            return span
    if kind == "name" and asks_for_several(question):  # "which datasets": all of them
        span = _list_span(sentence, anchors, 30)
        if span:
            return span
    span = _entity_span(question, sentence, anchors, 60 if kind == "name" else 25)
    return span or _cue_span(question, sentence, anchors) or _clause_span(question, sentence)
