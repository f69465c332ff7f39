"""Text normalisation for grounding: sentences, numbers, entities, content words, URLs
(the rules comparing a claim with its evidence are in :mod:`assistant.grounding.rules`).

Pure, deterministic, stdlib-only helpers used by :mod:`assistant.grounding.judge`. Nothing here
knows about models; every rule is a regular expression or a small word list so that a verdict
can always be explained ("number 560 not in source").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "CAP_STOPWORDS",
    "STOPWORDS",
    "NumberMention",
    "content_words",
    "entity_in_text",
    "extract_entities",
    "extract_numbers",
    "find_urls",
    "norm_phrase",
    "number_mentions",
    "sentence_spans",
    "split_sentences",
    "stem",
    "strip_citations",
    "word_set",
]


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: word lists stay readable in the source."""
    return frozenset(text.split())


# --------------------------------------------------------------------------------------------
# sentences

# Words whose trailing period never ends a sentence (lower-cased, without the final period).
_ABBREVIATIONS = word_set(
    "e.g i.e et al vs cf fig figs eq eqs sec secs tab tabs no nos approx resp ref refs "
    "dr mr mrs ms prof st inc ltd jr sr co corp dept univ vol pp ch esp viz a.k.a w.r.t "
    "u.s u.k u.n e.u ca"
)
_BOUNDARY_RE = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_NEXT_START_RE = re.compile(r"\s+([\"'“‘(\[]?[A-Z0-9\"'“‘(\[])")
_LIST_NUMBER_RE = re.compile(r"\s*(?:\d{1,2}|[A-Za-z]|[ivx]{1,4})\.")  # "1. First point"
_CITE_RUN_RE = re.compile(r"\s*(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")


def _ends_with_abbreviation(text: str) -> bool:
    """True when ``text`` (ending in a period) ends with an abbreviation or an initial."""
    match = re.search(r"(?:^|(?<=[\s(]))([A-Za-z][A-Za-z.]*)\.$", text)
    if match is None:
        return False
    word = match.group(1)
    if word.lower() in _ABBREVIATIONS:
        return True
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):  # U.S. / e.g. / a.k.a. style
        return True
    return len(word) == 1 and word.isupper()  # an initial: "J. Smith"


def _line_spans(text: str) -> list[tuple[int, int]]:
    """Spans of logical lines: a newline splits unless it is a soft wrap mid-sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in re.finditer(r"\n", text):
        before = text[start : match.start()].rstrip()
        after = text[match.end() :].lstrip(" \t")
        soft_wrap = (
            before
            and after
            and not after.startswith("\n")
            and before[-1] not in ".!?:;)]\"'”"
            and after[0].islower()
        )
        if not soft_wrap:
            spans.append((start, match.start()))
            start = match.end()
    spans.append((start, len(text)))
    return spans


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of sentences in ``text``; ``text[start:end]`` is stripped."""
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _line_spans(text):
        line = text[line_start:line_end]
        cut = 0
        for match in _BOUNDARY_RE.finditer(line):
            end = match.end()
            rest = line[end:]
            if rest.strip():
                follow = _NEXT_START_RE.match(rest)
                if follow is None:
                    continue
                cites = _CITE_RUN_RE.match(rest)
                if cites is not None:  # "... parameters. [1] Next" keeps [1] with its sentence
                    end += cites.end()
            head = line[cut : match.start() + 1]
            if match.group().startswith(".") and (
                _ends_with_abbreviation(head) or _LIST_NUMBER_RE.fullmatch(head)
            ):
                continue
            spans.append((line_start + cut, line_start + end))
            cut = end
        spans.append((line_start + cut, line_end))
    out: list[tuple[int, int]] = []
    for start, end in spans:
        chunk = text[start:end]
        lead = len(chunk) - len(chunk.lstrip())
        trail = len(chunk.rstrip())
        if trail > lead:
            out.append((start + lead, start + trail))
    return out


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, each a verbatim, stripped substring of it."""
    return [text[s:e] for s, e in sentence_spans(text)]


# --------------------------------------------------------------------------------------------
# numbers

_CITATION_RE = re.compile(r"\[\s*\d+(?:\s*[,;\-–]\s*\d+)*\s*\]")
_ENUMERATOR_RE = re.compile(r"(?:^|(?<=[\s(\[]))\(?(?:\d{1,2}|[ivx]{1,4}|[a-h])\)(?=\s)")
_LIST_MARKER_RE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+", re.MULTILINE)
_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'()\[\]{}]+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|xyz|ru|cn|info|co|me|ly|app|dev|site|top|biz)"
    r"\b(?:/[^\s<>\"'()\[\]{}]*)?",
    re.IGNORECASE,
)
_SCALE_WORDS = {"thousand": "K", "million": "M", "billion": "B", "trillion": "T"}
_SCALE_VALUE = {"K": Decimal(1000), "M": Decimal(10) ** 6, "B": Decimal(10) ** 9}
_SCALE_VALUE["T"] = Decimal(10) ** 12
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100,
}  # fmt: skip
_NUM = r"\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:\.\d+)?"
_SUFFIX = (
    r"\s?(?:\\?%|percent\b|per\s+cent\b)"
    r"|\s(?:thousand|million|billion|trillion)\b"
    r"|[KkMBT](?![A-Za-z0-9])"
    r"|\s?(?:[x×](?![A-Za-z0-9])|times\b)"
    r"|\s?(?:GB|MB|TB|GiB)\b"
)
_NUMBER_RE = re.compile(
    rf"(?<![A-Za-z0-9_.\-/\\])[~≈]?(?P<a>{_NUM})(?P<sa>{_SUFFIX})?"
    rf"(?:\s?[-–]\s?(?P<b>{_NUM})(?P<sb>{_SUFFIX})?)?"
    rf"(?:/(?P<den>\d+))?(?![A-Za-z0-9]|\.\d)"
)
_WORD_NUMBER_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class NumberMention:
    """One number in a text: ``key`` is its normalised form ("80%", "360M", "2000")."""

    key: str
    value: Decimal
    unit: str  # "", "%", "K", "M", "B", "T", "x", "GB", ...
    decimals: int
    forms: frozenset[str]


def strip_citations(text: str) -> str:
    """Remove answer citation markers such as ``[1]``, ``[1, 2]``."""
    return _CITATION_RE.sub(" ", text)


def _unit(suffix: str | None) -> str:
    if not suffix:
        return ""
    s = suffix.strip().lower()
    if s.endswith("%") or "cent" in s:
        return "%"
    if s in _SCALE_WORDS:
        return _SCALE_WORDS[s]
    if s in {"x", "×", "times"}:
        return "x"
    return s.upper()


def _canon(number: str) -> tuple[str, Decimal, int]:
    raw = number.replace(",", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex only yields digits
        value = Decimal(0)
    text = format(value.normalize(), "f") if "." in raw else raw.lstrip("0") or "0"
    decimals = len(text.split(".")[1]) if "." in text else 0
    return text, value, decimals


def _mention(number: str, suffix: str | None) -> NumberMention:
    text, value, decimals = _canon(number)
    unit = _unit(suffix)
    forms = {text, text + unit}
    if unit in _SCALE_VALUE:
        full = value * _SCALE_VALUE[unit]
        forms.add(format(full.normalize(), "f") if full == full.to_integral() else str(full))
    # (a digit run far beyond any quantity, e.g. 30 digits, would overflow Decimal's 28-digit
    # precision in ``%`` and raise; it gets no scaled forms)
    if unit == "" and value.adjusted() < 24:
        for scale, size in _SCALE_VALUE.items():  # 2000 also reads as 2K
            if value >= size and value % size == 0:
                forms.add(format((value / size).normalize(), "f") + scale)
    return NumberMention(text + unit, value, unit, decimals, frozenset(forms))


def number_mentions(text: str) -> list[NumberMention]:
    """Numbers in ``text`` in reading order, ignoring citation markers, enumerators and
    digits inside identifiers ("GPT-4o", "T5", "ImageNet-1K")."""
    text = _URL_RE.sub(" ", strip_citations(text))
    text = _ENUMERATOR_RE.sub(" ", _LIST_MARKER_RE.sub("", text))
    found: list[tuple[int, NumberMention]] = []
    for m in _NUMBER_RE.finditer(text):
        if m.group("den"):
            frac = f"{m.group('a')}/{m.group('den')}"
            found.append((m.start(), NumberMention(frac, Decimal(0), "/", 0, frozenset({frac}))))
            continue
        suffix_a, suffix_b = m.group("sa"), m.group("sb")
        if suffix_a is None and m.group("b") is not None and _unit(suffix_b) in {"%", "x"}:
            suffix_a = suffix_b  # "10-20%": both ends are percentages ("7-8B" stays 7 and 8B)
        found.append((m.start(), _mention(m.group("a"), suffix_a)))
        if m.group("b") is not None:
            found.append((m.start("b"), _mention(m.group("b"), suffix_b)))
    for m in _WORD_NUMBER_RE.finditer(text):
        value = _NUMBER_WORDS[m.group(1).lower()]
        found.append((m.start(), _mention(str(value), None)))
    return [mention for _, mention in sorted(found, key=lambda item: item[0])]


def extract_numbers(text: str) -> set[str]:
    """All normalised numeric forms in ``text``: "360 million" gives {"360M", "360",
    "360000000"}, "2,000" gives {"2000", "2K"}, "85.3\\%" gives {"85.3%", "85.3"}."""
    out: set[str] = set()
    for mention in number_mentions(text):
        out |= mention.forms
    return out


# --------------------------------------------------------------------------------------------
# entities

CAP_STOPWORDS = word_set(
    """the we our this these those that there their they it its in on for to a an and but or
    as at by from with without of if so not no yes also thus hence here then however moreover
    furthermore additionally specifically finally first second third fourth firstly secondly
    lastly besides overall together therefore while when where which what who whom whose how
    why although though despite unlike like based building given using compared experimental
    extensive experiments results result recently recent existing most many some such each
    both all several other another more less further notably importantly instead indeed
    meanwhile next paper papers abstract answer summary note figure table section source
    sources one two three four five six seven eight nine ten i you he she me us my your his
    her them is are was were be been being has have had do does did can could will would
    should may might must shall according please see et al"""
)
_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:[-'’.][A-Za-z0-9]+)*")
_NUMBERISH_RE = re.compile(r"(?:\d+(?:[.,]\d+)*(?:[KkMBTx%]|GB|MB|TB)?(?:[-–](?=\d)|$))+")


def _token_is_strong(token: str) -> bool:
    """Identifier-like: digits with letters, inner capitals, or an acronym."""
    has_alpha = any(c.isalpha() for c in token)
    if not has_alpha or _NUMBERISH_RE.fullmatch(token):
        return False
    if any(c.isdigit() for c in token):
        return True
    if re.search(r"[a-z][A-Za-z'’.-]*[A-Z]", token):  # ShapefileGPT, mT5, Uni-CoT, BIG-Bench
        return True
    return sum(c.isupper() for c in token) >= 2  # LLM, MULTI-TAP, BIG-Bench


def _singular(token: str) -> str:
    """Acronym plurals: "LLMs" -> "LLM", "KILTs" -> "KILT"; possessives are dropped."""
    token = re.sub(r"['’]s?$", "", token)
    if re.fullmatch(r"[A-Z0-9-]*[A-Z]{2,}s", token):
        return token[:-1]
    return token


def extract_entities(text: str) -> set[str]:
    """Named entities and technical terms, heuristically (surface forms, acronyms singular).

    Identifier-like tokens ("FLAN-T5", "GPT-4o", "LLM") always count; runs of capitalised
    words ("Masked Image Modeling") count unless they are common sentence openers or
    the first word of a sentence.
    """
    text = _URL_RE.sub(" ", strip_citations(text))
    text = re.sub(r"[*_`#>]+", " ", text)
    entities: set[str] = set()
    for start, end in sentence_spans(text):
        sentence = _LIST_MARKER_RE.sub("", text[start:end])
        run: list[str] = []
        previous_end = 0
        for m in _WORD_RE.finditer(sentence):
            token = _singular(m.group())
            strong = _token_is_strong(token)
            capitalised = bool(re.fullmatch(r"[A-Z][a-z]+(?:-[A-Za-z]+)*", token))
            common = token.lower() in CAP_STOPWORDS
            # the first word, or one after a colon or an enumerator "(1)", starts a clause
            starts = previous_end == 0 or bool(
                re.search(r"[:)•]", sentence[previous_end : m.start()])
            )
            is_part = strong or (capitalised and not common and (not starts or bool(run)))
            contiguous = run and sentence[previous_end : m.start()] == " "
            if is_part and (contiguous or not run):
                run.append(token)
            elif is_part:
                entities.add(" ".join(run))
                run = [token]
            else:
                if run:
                    entities.add(" ".join(run))
                run = []
            if strong:
                entities.add(token)
            previous_end = m.end()
        if run:
            entities.add(" ".join(run))
    return entities


def norm_phrase(text: str) -> str:
    """Lower-case, every run of non-alphanumerics collapsed to one space, padded with spaces."""
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()).strip() + " "


def entity_in_text(entity: str, text: str) -> bool:
    """Whether ``entity`` occurs in ``text`` as whole tokens (case-, hyphen- and plural-
    insensitive): "T5" is found in "FLAN-T5", "LLM" in "LLMs", but "T5" not in "mT5"."""
    needle = norm_phrase(entity).strip()
    if not needle:
        return True
    hay = norm_phrase(text)
    pattern = r"(?<= )" + re.escape(needle) + r"(?:e?s)?(?= )"
    if re.search(pattern, hay):
        return True
    squashed = needle.replace(" ", "")  # "Multi Task" vs "multitask", "Chain of Thought"
    return (
        len(squashed) > 3
        and re.search(r"(?<= )" + re.escape(squashed) + r"(?:e?s)?(?= )", hay) is not None
    )


# --------------------------------------------------------------------------------------------
# content words

STOPWORDS = word_set(
    """a about above across after again against all along also am among an and any are aren't
    around as at be because beyond behind toward towards versus despite
    been before being below between both but by can cannot could did do does doing done down
    during each either else etc even ever few for from further had has have having he her here
    hers herself him himself his how however i if in into is isn't it its itself just let me
    more most much must my myself neither no nor not now of off on once one only onto or other
    others otherwise our ours ourselves out over own per quite rather same she should since so
    some such than that the their theirs them themselves then there therefore these they this
    those though through thus to too under until up upon us very via was we were what whatever
    when whenever where whereas whether which while who whom whose why will with within without
    would yet you your yours yourself yourselves may might shall yes thereby thousand million
    billion trillion percent times also e.g i.e et al paper abstract answer moreover
    furthermore additionally specifically finally first second third besides"""
)
_CONTENT_RE = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_SUFFIXES = (
    "izations", "ization", "ational", "ations", "ation", "ators", "ator", "ements", "ement",
    "ments", "ment", "ities", "ity", "iveness", "ness", "ingly", "ings", "ing", "edly", "ies",
    "ied", "ative", "ive", "izes", "ized", "ize", "ates", "ated", "ate", "ency", "ence", "ance",
    "ent", "ers", "er", "ed", "ly", "es", "s", "e",
)  # fmt: skip


@functools.lru_cache(maxsize=65536)  # pure, and the same few thousand words recur in every check
def stem(word: str) -> str:
    """A small suffix-stripping stemmer: improves/improved/improving/improvement -> improv."""
    if not word.isalpha() or len(word) <= 3:
        return word
    for _ in range(2):
        for suffix in _SUFFIXES:
            if not word.endswith(suffix) or len(word) - len(suffix) < 3:
                continue
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                continue
            word = word[: -len(suffix)] + ("y" if suffix in {"ies", "ied"} else "")
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeious":
                word = word[:-1]  # running -> run, modelling -> model
            break
        else:
            break
    return word


def content_words(text: str) -> set[str]:
    """Lower-case stems of the non-stopwords in ``text`` (numbers kept, citations dropped)."""
    text = _URL_RE.sub(" ", strip_citations(text)).lower().replace("\\%", "%")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 2,000 -> 2000
    out: set[str] = set()
    for token in _CONTENT_RE.findall(text):
        if token in STOPWORDS or (len(token) < 2 and not token.isdigit()):
            continue
        out.add(stem(token))
    return out


# --------------------------------------------------------------------------------------------
# URLs


def find_urls(text: str) -> list[str]:
    """URLs and bare web domains in ``text``, trailing punctuation removed."""
    return [m.group().rstrip(".,;:!?") for m in _URL_RE.finditer(text)]
