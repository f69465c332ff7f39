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
    r"success rate|error rate|win rate|how much of|what (?:share|fraction|portion) of)\b",
    re.IGNORECASE,
)
# "(1) learning shared patterns, (2) ...": a list's enumerator counts nothing
_ENUMERATOR = re.compile(r"\(\s*\d{1,2}\s*\)|(?<![\w.])\d{1,2}\)")
_UNIT_WORDS = 3  # a number's noun: "3.5K videos", "360 million parameters", "11 tasks"
_LIST_CUES = re.compile(
    r"\b(?:including|such as|like|namely|i\.e\.,?|e\.g\.,?|consisting of|comprising|"
    r"particularly|especially|notably|in particular)\s+",
    re.IGNORECASE,
)
# "we design a multi-task feature memory that ...", "E3P adopts a mask-and-predict approach":
# what a paper proposes, designs or uses is what "what component / technique ..." asks for
_INTRODUCED = re.compile(
    r"\b(?:propos\w*|introduc\w*|design\w*|develop\w*|adopt\w*|employ\w*|present\w*|"
    r"leverag\w*|utili[sz]\w*|uses|using|devis\w*|build\w*|construct\w*|extract\w*|"
    r"eliminat\w*|replac\w*)\s+(?:(?:a|an|the|our|its|their|two|three|several)\s+)?",
    re.IGNORECASE,
)
# "How is it trained?", "How does X break ... into steps?": the method, after its cue
_HOW = re.compile(r"^\s*how\s+(?:is|are|was|were|does|do|did|can|could)\b", re.IGNORECASE)
_METHOD_CUES = re.compile(
    r"\b(?:by|using|via|through|with|into|based on|relying on)\s+", re.IGNORECASE
)
_SUPERLATIVE = re.compile(r"\b(?:\w{3,}est|most|least|best|worst|main|biggest)\b", re.I)
_EMPHASIS = re.compile(r"\b(?:particularly|especially|notably|in particular|mainly)\s+", re.I)
_STRANDED = re.compile(
    r"\b(on|from|against|with|to|for|into|over|by|upon|after)\s*\?\s*$", re.IGNORECASE
)
HOW_SPAN_WORDS = 20  # a method is a clause, longer than a name
_CUES = re.compile(
    r"\b(?:called|named|dubbed|termed|on|over|against|than|across|from|to|via|by|using|"
    r"uses|use|with|as)\s+",
    re.IGNORECASE,
)
MAX_SPAN_WORDS = 12
_WORD = re.compile(r"[\w][\w.+%/-]*")


def _anchors(question: str, sentence: str) -> list[int]:
    """Offsets of the sentence's words that say what the question asks for (its head terms;
    when the sentence words the head differently, "extra signal" for "additional supervision",
    the question's other words): the answer sits next to them."""
    found: list[int] = []
    for wanted in (head_terms(question), grounding.content_words(question) - GENERIC):
        for m in _WORD.finditer(sentence):
            words = grounding.content_words(m.group())
            if wanted and words and matches(wanted, set(words)):
                found.append(m.start())
        if found:
            break
    return found


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
    text = re.sub(
        r"(?:\s+(?:and|or|the|a|an|of|in|on|with|to|that|which|who|for|from|by|as|at))+$", "", text
    )
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
        if any(e.start() <= start < e.end() for e in _ENUMERATOR.finditer(sentence)):
            continue
        tail = _word_end(sentence, end, _UNIT_WORDS)
        joined = re.search(r"\s(?:and|or|but|while|whereas|with)\s", sentence[end:tail])
        if joined:  # "12 kitchens and 3 offices": the noun ends at the next item
            tail = end + joined.start()
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


_CUED_LIST = re.compile(
    r"\b(?:including|such as|namely)\s+([^;:]*?(?:,|\band\b)[^;:]*)", re.IGNORECASE
)


def _list_span(sentence: str, anchors: list[int], reach: int) -> tuple[int, int] | None:
    """A listed set of names next to what is asked for: "(ACDC, LVSC, CHAOS)", "three
    scenarios: recommendation, routing, and passage ranking", "including STP, TC and NSP"."""
    best: tuple[float, tuple[int, int]] | None = None
    for pattern in (_PAREN_LIST, _COLON_LIST, _CUED_LIST):
        for m in pattern.finditer(sentence):
            start, end = m.span(1)
            if pattern is _CUED_LIST:  # runs on through its commas and parentheses
                end = start + len(re.split(r"[.;:]\s|\s(?:which|that|to|for)\s", m.group(1))[0])
            if len(sentence[start:end].split()) > MAX_SPAN_WORDS + 4:
                continue
            cost = _distance(start, end, anchors)
            if cost <= reach and (best is None or cost < best[0]):
                best = (cost, (start, end))
    return _trim(sentence, *best[1]) if best else None


_NP_END = re.compile(
    r"\s(?:that|which|who|where|to|for|in|on|with|by|as|from|and|or|is|are|was|were)\s|[,;:()]"
)


def _noun_phrase_end(sentence: str, start: int, q_words: set[str]) -> int:
    """End of the noun phrase at ``start`` ("a multi-task feature memory"); when that phrase
    only repeats the question ("a novel data augmentation method"), its clause, which says
    what the question does not ("... that utilizes feature correlations")."""
    m = _NP_END.search(sentence, start)
    end = m.start() if m else len(sentence)
    words = grounding.content_words(sentence[start:end])
    new = words - q_words - GENERIC  # "a novel ... method" says nothing new
    if len(sentence[start:end].split()) > MAX_SPAN_WORDS or len(new) * 2 < len(words):
        return _word_end(sentence, start, MAX_SPAN_WORDS)
    return end


def _cue_span(question: str, sentence: str, anchors: list[int]) -> tuple[int, int] | None:
    """A phrase the question does not already say, after a cue near what it asks for: a list
    or example ("including ...", "e.g., ..."), the thing a paper introduces or uses, a method
    for a "how" question ("by ...", "via ..."), or a preposition's object ("over CodeAct")."""
    q_words = grounding.content_words(question)
    how = bool(_HOW.search(question))
    best: tuple[float, tuple[int, int]] | None = None
    groups: list[tuple[re.Pattern[str], str, float]] = [
        (_LIST_CUES, "list", 0.0),
        (_INTRODUCED, "np", 0.0),
        (_CUES, "words", 20.0),
    ]
    if how:
        groups.insert(0, (_METHOD_CUES, "how", -5.0))
    stranded = _STRANDED.search(question)
    if stranded:  # "What does the router base its choice on?": the object of that "on"
        cue = re.compile(r"\b" + stranded.group(1) + r"\s+", re.IGNORECASE)
        groups.insert(0, (cue, "words", -15.0))
    if _SUPERLATIVE.search(question):  # "what is hardest": what the sentence singles out
        groups.insert(0, (_EMPHASIS, "words", -20.0))
    for pattern, rule, bias in groups:
        for m in pattern.finditer(sentence):
            if rule == "np":
                end = _noun_phrase_end(sentence, m.end(), q_words)
            elif rule == "how":
                end = _word_end(sentence, m.end(), HOW_SPAN_WORDS)
            else:
                end = _word_end(sentence, m.end(), MAX_SPAN_WORDS, commas=rule == "list")
            text = sentence[m.end() : end]
            new = grounding.content_words(text) - q_words
            if not new:
                continue
            cost = _distance(m.start(), end, anchors) + bias
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


_SEVERAL = re.compile(
    r"\b(?:what|which)\s+(?:are|were)\s+(?:the\s+)?(?:two|three|four|five|six|\d+|several|"
    r"main|key)?\s*[\w-]+s\b|\b(?:which|what)\s+(?:kinds|types|sorts|forms)\s+of\b|"
    r"\b(?:which|what)\s+(?:two|three|four|five|six|\d+)\s+[\w-]+s\b",
    re.IGNORECASE,
)


_KIND_OF = re.compile(
    r"\b(?:what|which)\s+(?:kind|kinds|type|types|sort|sorts|form|forms)\s+of\s+"
    r"(?:[\w-]+\s+){0,2}?([\w-]{3,})(?=\s+(?:do|does|did|is|are|was|were|has|have|can)\b|\s*\?)",
    re.IGNORECASE,
)
_MODIFIER = re.compile(r"(?:[\w-]+\s+){1,3}$")


def _kind_span(question: str, sentence: str) -> tuple[int, int] | None:
    """ "What kind of online service ...?": the words that qualify that noun where the
    sentence names it ("short-video services"), when they are not the question's own. (A
    plural "which kinds of ..." wants the list instead.)"""
    m = _KIND_OF.search(question)
    if not m or m.group().split()[1].lower().endswith("s"):
        return None
    head = grounding.content_words(m.group(1))
    q_words = grounding.content_words(question)
    for w in _WORD.finditer(sentence):
        if not head or not matches(head, grounding.content_words(w.group())):
            continue
        before = _MODIFIER.search(sentence[max(0, w.start() - 60) : w.start()])
        words = before.group().split() if before else []
        qualifiers: list[str] = []
        for word in reversed(words):  # back to the first function word: "at short-video"
            if not grounding.content_words(word):
                break
            qualifiers.insert(0, word)
        if qualifiers and grounding.content_words(" ".join(qualifiers)) - q_words:
            start = sentence.rfind(" ".join(qualifiers), 0, w.start())
            if start >= 0:
                return _trim(sentence, start, w.end())
    return None


def _wants_list(question: str, kind: str) -> bool:
    """The question asks for several things ("which datasets", "what are the two levels",
    "which kinds of scenarios"): the span is the list, not its first item."""
    return (kind == "name" and asks_for_several(question)) or bool(_SEVERAL.search(question))


# "How many dialogs does it contain, and across how many domains?": two things asked at once
_PART = re.compile(
    r",?\s+and\s+(?=(?:[\w-]+\s+){0,2}(?:what|which|how|who|where|when)\b)", re.IGNORECASE
)
MAX_JOINED_WORDS = 24


def mark_span(question: str, sentence: str, *, kind: str | None = None) -> tuple[int, int] | None:
    """Character span of ``sentence`` that answers ``question``, or None when none stands out.

    A question asking two things at once gets one span over both answers when the sentence
    gives them close together ("13,215 task-based dialogs comprising six domains"), else the
    first part's. See :func:`_mark_one` for one question.
    """
    parts = [p.strip(" ,?") + "?" for p in _PART.split(question) if len(p.split()) >= 2]
    if len(parts) < 2:
        return _mark_one(question, sentence, kind=kind)
    found = [sp for p in parts if (sp := _mark_one(p, sentence)) is not None]
    if not found:
        return _mark_one(question, sentence, kind=kind)
    start, end = min(a for a, _ in found), max(b for _, b in found)
    if len(found) > 1 and len(sentence[start:end].split()) <= MAX_JOINED_WORDS:
        return start, end
    return found[0]


def _mark_one(question: str, sentence: str, *, kind: str | None = None) -> tuple[int, int] | None:
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
    if _wants_list(question, kind):  # "which datasets", "what are the two levels": all of them
        span = _list_span(sentence, anchors, 30)
        if span:
            return span
    span = _kind_span(question, sentence)
    if span:
        return span
    span = _entity_span(question, sentence, anchors, 60 if kind == "name" else 25)
    return span or _cue_span(question, sentence, anchors) or _clause_span(question, sentence)
