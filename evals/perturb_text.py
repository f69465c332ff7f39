"""Text helpers for :mod:`evals.perturb`: sentences, words, numbers, verbs, noun phrases.

Standard library only. Everything is a pure function of its arguments; nothing here is random.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def wordset(text: str) -> frozenset[str]:
    """A set of space-separated words: ``wordset("a an the")``."""
    return frozenset(text.split())


# --- sentences -----------------------------------------------------------------------------------

# Lower-cased tokens (without their final ".") after which a period never ends a sentence.
ABBREVIATIONS = wordset(
    "e.g i.e al cf vs viz fig figs eq eqs sec no nos dr prof mr ms approx resp incl ca st"
)
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s)")


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; "e.g.", "i.e.", "et al.", initials and decimals never split."""
    text = " ".join(text.split())
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text + " "):
        if m.end() >= len(text):
            break
        nxt = text[m.end() :].lstrip()[:1]
        if not (nxt.isupper() or nxt.isdigit() or nxt in "\"'(["):
            continue
        token = text[: m.start() + 1].rsplit(" ", 1)[-1].lstrip("(\"'[")
        stem = token[:-1].lower() if token.endswith(".") else ""
        if token.endswith(".") and (stem in ABBREVIATIONS or re.fullmatch(r"[a-z]", stem)):
            continue
        out.append(text[start : m.end()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


# --- words ---------------------------------------------------------------------------------------

WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['’.\-/][A-Za-z0-9]+)*")
_PUNCT = ".,;:!?()[]{}\"'"


def words(text: str) -> list[str]:
    """Lower-cased word tokens; hyphenated and dotted tokens ("multi-task", "85.3") stay whole."""
    return [w.lower() for w in WORD_RE.findall(text)]


def vocabulary(*texts: str) -> frozenset[str]:
    return frozenset(w for t in texts for w in words(t))


def core(token: str) -> str:
    """A whitespace token without surrounding punctuation, lower-cased."""
    return token.strip(_PUNCT).lower()


def norm(text: str) -> str:
    """Comparison form: lower-case words joined by single spaces."""
    return " ".join(words(text))


def join(tokens: Iterable[str]) -> str:
    return " ".join(t for t in tokens if t)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def decap(text: str, source: str) -> str:
    """Lower-case a sentence-initial word ("The", "Weakly-supervised") unless it is a name.

    A Titlecase word counts as a name when ``source`` also capitalises it mid-sentence.
    """
    first = text.split(" ", 1)[0]
    letters = first.replace("-", "")
    if not (letters.isalpha() and letters[:1].isupper() and letters[1:].islower()):
        return text
    if re.search(rf"[^.!?:)\s]\s+{re.escape(first)}\b", source):
        return text
    return first.lower() + text[len(first) :]


def trailing_punct(token: str) -> tuple[str, str]:
    """Split "models)." into ("models)", ".") — closing brackets stay with the word."""
    m = re.search(r"[.,;:!?]+$", token)
    return (token[: m.start()], m.group()) if m else (token, "")


def balanced(tokens: Iterable[str]) -> bool:
    text = " ".join(tokens)
    return text.count("(") == text.count(")") and text.count('"') % 2 == 0


# --- numbers -------------------------------------------------------------------------------------

NUMBER_WORDS = wordset("two three four five six seven eight nine ten eleven twelve dozens hundreds")
_NUMERIC = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\+|%|\\%|[KMBkmb]|x)?")


def number_core(token: str) -> str | None:
    """The number a whitespace token states, or None (names like "T5", "top-1", "(1)" are not)."""
    bare, _ = trailing_punct(token)
    if bare.startswith("(") and bare.endswith(")"):
        return None  # an enumerator such as "(1)"
    bare = bare.strip("()")
    if bare.lower() in NUMBER_WORDS:
        return bare
    if (
        not _NUMERIC.fullmatch(bare)
        or bare.endswith(".0")
        or re.fullmatch(r"(?:19|20)\d\d\w?", bare)
    ):
        return None  # not a number, a version ("2.0") or a year ("2024b")
    if token.endswith(")") and "(" not in token:
        return None  # "1)" as an enumerator
    return bare


def number_kind(text: str) -> str:
    """Numbers of one kind can stand in for each other: "80%" for "100%", "540B" for "770M"."""
    if text.isalpha():
        return "word"
    t = text.replace("\\", "").rstrip("+")
    unit = "%" if t.endswith("%") else "mag" if t[-1:].isalpha() else ""
    return unit + ("." if "." in t.rstrip("%KMBkmbx") else "")


def numeric_value(text: str) -> str:
    """A comparison key: "85.3\\%" and "85.3%" are the same number; "1B" and "1" are not."""
    return text.replace("\\", "").replace(",", "").lower()


# --- verbs ---------------------------------------------------------------------------------------

MODALS = wordset("can cannot could may might must should will would")
AUX_SG = wordset("is has does was")
AUX_PL = wordset("are have do were")
_STEMS = (
    "achieve adopt aim allow apply assume attempt boost build capture combine compare comprise "
    "consider consist contain contribute decode decompose deliver demonstrate depend derive detect "
    "develop distill dominate employ enable encode enhance ensure evaluate exceed excel exhibit "
    "exploit explore extend extract face fail focus generalize generate guide handle help ignore "
    "improve include incorporate integrate introduce involve lack leverage learn limit match "
    "mitigate neglect obtain offer operate outperform outweigh perform precede predict present "
    "produce propose provide reduce refine rely remain replace require retrieve select serve share "
    "show solve struggle suffer supervise support surpass tackle tend train transfer treat "
    "underperform use utilize yield beat become demand need seek benefit inform"
)
_IRREGULAR = {
    "rely": ("relies", "relied"),
    "apply": ("applies", "applied"),
    "become": ("becomes", "became"),
    "seek": ("seeks", "sought"),
    "build": ("builds", "built"),
    "beat": ("beats", "beat"),
}


def _forms(stem: str) -> tuple[str, str]:
    if stem in _IRREGULAR:
        return _IRREGULAR[stem]
    third = stem + ("es" if stem.endswith(("s", "sh", "ch", "x")) else "s")
    past = stem + ("d" if stem.endswith("e") else "ed")
    return third, past


THIRD_OF: dict[str, str] = {}  # base -> 3rd person singular
VERB_NUMBER: dict[str, str] = {}  # form -> "sg" | "pl" | "any"
for _stem in _STEMS.split():
    _third, _past = _forms(_stem)
    THIRD_OF[_stem] = _third
    VERB_NUMBER.setdefault(_stem, "pl")
    VERB_NUMBER[_third] = "sg"
    VERB_NUMBER.setdefault(_past, "any")
VERB_NUMBER.update({w: "sg" for w in AUX_SG} | {w: "pl" for w in AUX_PL})
VERB_NUMBER.update({w: "any" for w in MODALS})
SINGULAR_OF = {"are": "is", "have": "has", "do": "does", "were": "was"} | THIRD_OF

ADVERB_OK = wordset("also still often further even then thus mainly first")


def is_adverb(token: str) -> bool:
    c = core(token)
    if c in ADVERB_OK:
        return True
    return c.endswith("ly") and len(c) > 4 and c not in {"apply", "rely", "only", "early"}


def verb_number(token: str) -> str | None:
    """ "sg", "pl" or "any" for a known finite verb form, else None."""
    return VERB_NUMBER.get(core(token))


PRONOUNS = wordset("we it they this that these those which who there he she one i")


def plural(np: str) -> bool | None:
    """Whether a noun phrase is plural, by its head word; None when the head is unclear."""
    text = re.sub(r"\([^()]*\)", " ", np)
    toks = [t for t in (trailing_punct(x)[0] for x in text.split()) if t]
    if not toks:
        return None
    if any(core(t) == "and" for t in toks) or core(toks[0]) in {"these", "those", "both"}:
        return True
    head = toks[-1].strip(_PUNCT)
    low = head.lower()
    if low in {"data", "we", "they", "series", "means", "research"}:
        return None
    if re.fullmatch(r"[A-Z][A-Za-z0-9-]*[A-Z0-9]s", head):
        return True  # "LLMs", "VLMs"
    if head.isupper() or not head.isalpha() and not head.replace("-", "").isalpha():
        return False
    return low.endswith("s") and not low.endswith(("ss", "us", "is", "ics", "sis"))
