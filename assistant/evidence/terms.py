"""The words of a question: what it asks for, its type, and whether a sentence mentions it.

Shared by the answerability scorer, the span marker and the prompt builder. Pure functions
over :mod:`assistant.grounding`'s tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant import grounding
from assistant.grounding.textnorm import word_set

GENERIC = grounding.content_words(
    "paper papers work study method methods approach model models propose proposed "
    "introduce introduced present presented new novel main key result results show shows "
    "author authors describe described does do what which how many much kind type name called "
    "according abstract listing about tell explain give list mention mentioned use used "
    "get gets got achieve achieves reach reaches report reported"
)
_QUANTITY = re.compile(
    r"\b(how (many|much|large|big|long|few|small|fast|often|high|low|well|far)|"
    r"what (?:[\w-]+ )?(?:size|sizes|count|number|rate|ratio|percentage|score|accuracy)\b|"
    r"what (percentage|percent|share|fraction|accuracy|score|size|number|gain|improvement|"
    r"speed-?up|ratio|rate|proportion|amount|f1|bleu|rouge|ap|map|miou)|"
    r"by how|how much better|how many times)\b",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"\b(?:who|whom|whose)\b|"
    r"\b(which|what|name)\b.{0,40}?\b(dataset|datasets|benchmark|benchmarks|model|models|"
    r"baseline|baselines|method|methods|metric|metrics|task|tasks|language|languages|"
    r"backbone|encoder|decoder|architecture|llm|llms|corpus|corpora|library|tool|tools|domain|"
    r"domains|framework|algorithm|technique|techniques|objective|objectives|loss|approach|"
    r"gpu|gpus|hardware|optimi[sz]er|licen[cs]e|version|tokeni[sz]er|venue|company|platform|"
    r"organi[sz]ation|institution|university|software|simulator|engine|country|countries)\b",
    re.IGNORECASE,
)
PREFIX = 5  # stems sharing this many leading letters count as one term (collected/collection)


def question_kind(question: str) -> str:
    """ "quantity" (how many / what accuracy), "name" (which dataset / what baseline), or
    "open"."""
    if _QUANTITY.search(question):
        return "quantity"
    if _NAME.search(question):
        return "name"
    return "open"


def focus_terms(question: str, titles: Sequence[str]) -> set[str]:
    """Content words of the question that neither the titles nor the question type explain."""
    title_words: set[str] = set()
    for t in titles:
        title_words |= grounding.content_words(t)
    return grounding.content_words(question) - title_words - GENERIC


def matches(terms: set[str], words: set[str]) -> int:
    n = 0
    for term in terms:
        if term in words or (
            len(term) >= PREFIX and any(w[:PREFIX] == term[:PREFIX] for w in words)
        ):
            n += 1
    return n


def mentions(terms: set[str], words: set[str]) -> bool:
    return matches(terms, words) > 0


_HEAD_AFTER = re.compile(
    r"\b(?:how many|how much|which|what|who|name the|name)\s+((?:[\w-]+\s+){0,3}?[\w-]+)"
    r"(?=\s+(?:do|does|did|is|are|was|were|has|have|had|can|could|would|will|in|of|on|for|"
    r"from|with|to|at|by|that|it|they|the)\b|[?,]|$)",
    re.IGNORECASE,
)
# "How large is the GUIDE dataset?": the thing measured is the subject's last word
_HEAD_OF_SIZE = re.compile(
    r"\bhow (?:large|big|long|small|fast|deep|wide)\s+(?:is|are|was|were)\s+(?:the\s+)?"
    r"(?:[\w-]+\s+){0,3}?([\w-]+)(?=\s*[?,]|\s*$|\s+(?:in|of|on|for|that|used)\b)",
    re.IGNORECASE,
)
_HEAD_SKIP = grounding.content_words(
    "exactly specific roughly approximately total overall one two three four five six seven "
    "eight nine ten eleven twelve"
)
# names need not be capitalised: "three tasks (moment retrieval, highlight detection and ...)"
# (a colon only when a list of short items follows: "three scenarios: recommendation, routing,
# and passage ranking", not "4 NLP benchmarks: First, compared to ...")
_LISTED = re.compile(
    r"\((?:[^()]*?,){1,}[^()]*\)?|\b(?:including|such as|namely|e\.g\.|i\.e\.)\s|"
    r"\w:\s+(?:[\w-]+\s+){0,2}[\w-]+\s*,\s*(?:[\w-]+\s+){0,2}[\w-]+\s*(?:,|\band\b|\bor\b)",
    re.IGNORECASE,
)
_WINDOW = 8  # words between the asked-for thing and the value that fills it


def head_terms(question: str) -> set[str]:
    """The thing the question asks for ("GPU hours" in "How many GPU hours ...", "backbone" in
    "Which backbone network ..."): the words right after the question word."""
    m = _HEAD_AFTER.search(question) or _HEAD_OF_SIZE.search(question)
    if not m:
        return set()
    words = grounding.content_words(m.group(1)) - GENERIC - _HEAD_SKIP
    return {w for w in words if not w.isdigit()}


def asks_for_several(question: str) -> bool:
    """ "Which medical datasets ...?", "What benchmarks ...?": the asked-for thing is plural."""
    m = _HEAD_AFTER.search(question)
    last = m.group(1).split()[-1].lower() if m else ""
    return len(last) >= 4 and last.endswith("s") and not last.endswith(("ss", "us", "is"))


def slot_filled(question: str, sentence: str, kind: str, head: set[str]) -> float | None:
    """1.0 when a value of the asked type (a number, a name) sits near the asked-for thing,
    0.0 when the thing is mentioned with no such value, None when it is not mentioned."""
    if kind == "open" or not head:
        return None
    words = list(re.finditer(r"[\w.%-]+", sentence))
    # a compound modifier ("low-power sensor") describes something else, not the thing asked
    at = [
        i
        for i, m in enumerate(words)
        if "-" not in m.group().strip("-")
        and (ws := grounding.content_words(m.group()))
        and matches(head, set(ws))
    ]
    if not at:
        return None
    q_numbers = grounding.extract_numbers(question)
    for i in at:
        lo, hi = words[max(0, i - _WINDOW)], words[min(len(words) - 1, i + _WINDOW)]
        window = sentence[lo.start() : hi.end() + 1]
        if kind == "quantity" and grounding.extract_numbers(window) - q_numbers:
            return 1.0
        if kind == "name" and (new_entities(window, question) or _LISTED.search(window)):
            return 1.0
    return 0.0


def new_numbers(sentence: str, question: str) -> set[str]:
    return grounding.extract_numbers(sentence) - grounding.extract_numbers(question)


# Acronyms that name a field or a kind of thing, not a particular model or dataset.
_GENERIC_ACRONYMS = word_set(
    "llm llms lm lms mllm mllms nlp nlu nlg mtl rs ft sft ai ml cv rag qa vqa ir rl gpu gpus "
    "cpu api sota moe gnn cnn rnn dnn vlm vlms asr tts ocr kg gis"
)


def _initials(question: str) -> set[str]:
    """Abbreviations the question's own names could have ("ToC" for Tree-of-Code)."""
    out = set()
    for name in re.findall(r"[A-Z][\w]*(?:-[\w]+)+", question):
        out.add("".join(p[0] for p in name.split("-")).lower())
    return out


def new_entities(sentence: str, question: str) -> set[str]:
    q = question.lower()
    skip = _initials(question)
    return {
        e
        for e in grounding.extract_entities(sentence)
        if e.lower() not in q
        and e.lower().rstrip("s") not in _GENERIC_ACRONYMS
        and e.lower() not in _GENERIC_ACRONYMS
        and e.lower() not in skip
        and not re.fullmatch(r"Multi-\w+|[A-Z][a-z]+-[a-z]+", e)
    }


def _coverage(focus: set[str], texts: Sequence[str], *, numeric: bool) -> float:
    """Best share of ``focus`` one sentence of ``texts`` covers, 0 when under what is needed.

    With ``numeric`` (a "how many" question) only sentences that state a number count.
    """
    if not focus and not numeric:
        return 1.0
    needed = 0.5 if len(focus) > 1 else 1.0
    best = 0.0
    for text in texts:
        for sentence in grounding.split_sentences(text):
            if numeric and not grounding.extract_numbers(sentence):
                continue
            if not focus:
                return 1.0
            cover = matches(focus, grounding.content_words(sentence)) / len(focus)
            if cover >= needed:
                best = max(best, cover)
    return best


def lexical_coverage(question: str, texts: Sequence[str], titles: Sequence[str]) -> float:
    """Share of the question's focus terms that one source sentence covers (0 = none enough).

    Each source is judged with its own title's words removed from the focus terms (a word
    naming a *different* retrieved paper is still something to cover), and all sources
    together with every title's words removed (a question spanning papers names each). A
    question asking for a quantity needs a sentence that states a number.
    """
    numeric = question_kind(question) == "quantity"
    combined = focus_terms(question, titles)
    # with every title's words removed nothing may be left to cover; that only shows
    # sufficiency when the question asked nothing beyond the titles of any one source either
    alone = [focus_terms(question, [t]) for t in titles]
    best = 0.0
    if combined or not any(alone):
        best = _coverage(combined, texts, numeric=numeric)
    for text, title in zip(texts, titles, strict=True):
        best = max(best, _coverage(focus_terms(question, [title]), [text], numeric=numeric))
    return best


_QWORD = r"(?:what|how|which|where|who|when|whom|whose|why|in what|on what|by how|across how)"
_PART_SPLIT = re.compile(
    r"\s*[,;]?\s+and\s+(?=" + _QWORD + r"\b)|\s*;\s*|\?\s+(?=[A-Z])", re.IGNORECASE
)
_COMPARE_SPLIT = re.compile(
    r"^\s*compare\s+(?P<a>.+?)\s+(?:with|to|and|against)\s+(?P<b>.+?)[.?]?\s*$", re.IGNORECASE
)
_BACK_REFERENCE = re.compile(r"\b(it|its|they|their|them|this|these|one|other)\b", re.IGNORECASE)
MIN_PART_WORDS = 3  # "and how?" is not a question of its own


def sub_questions(question: str) -> list[str]:
    """The parts of a compound question ("How many languages does xP3 span, and across how
    many task families was UDR tested?" -> two), or ``[question]`` when it has one part."""
    m = _COMPARE_SPLIT.match(question)
    if m:
        parts = [m.group("a"), m.group("b")]
    else:
        parts = [p.strip(" ,;?") for p in _PART_SPLIT.split(question)]
    parts = [p.rstrip(" .") for p in parts if len(p.split()) >= MIN_PART_WORDS]
    if len(parts) < 2:
        return [question]
    # a part that says "it" means the first part's subject: the whole question carries it
    parts = [question if _BACK_REFERENCE.search(p) else p + "?" for p in parts]
    return list(dict.fromkeys(parts))
