"""What a claim is made of, for the structure checks: tokens, its subject, and whether it
(or an evidence sentence) speaks of the paper itself.

Words are stemmed (:func:`.textnorm.stem`), numbers are one token each with their normalised
key ("360 million" -> 360M, "five" -> 5), and the clause punctuation is kept. The subject is
the words before the first auxiliary or known verb; the paper itself is its own method names
(see :func:`.judge.method_names`), "we"/"our", "the authors" or "the proposed ...".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.grounding.textnorm import STOPWORDS, number_mentions, stem, word_set

__all__ = [
    "AUX",
    "NEGATORS",
    "NUMBER_WORDS",
    "OWN_WORK",
    "PASSIVE_RE",
    "PRIOR_RE",
    "PRONOUNS",
    "QUANTIFIERS",
    "REGION_EDGE",
    "RELATIONS",
    "SELF_REFERENCE",
    "SELF_STEMS",
    "SPLIT_CLAUSE",
    "VERB_HEADS",
    "Evidence",
    "Tok",
    "about_paper",
    "method_names",
    "paper_names",
    "titled",
    "introduced_at",
    "introduces",
    "is_self",
    "is_verb",
    "speaks_of_paper",
    "subject_of",
    "tokens",
    "words_of",
]

NEGATORS = word_set("not no never without cannot nor neither none unable lack lacks lacking n't")
QUANTIFIERS = word_set(
    "all every each always only never entire entirely completely fully solely exclusively "
    "universally any"
)
# Relation words whose two sides are its arguments ("A than B", "from A to B", "A by B").
RELATIONS = word_set("than by from to into over versus vs against instead")
NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    )
    if n >= 2
}
SELF_REFERENCE = word_set("we our ours us")
# Stems that stand for the paper itself in a claim ("the authors", "the proposed method").
SELF_STEMS = frozenset(stem(w) for w in ("authors", "proposed"))
PRONOUNS = word_set("it its")  # "they", "these" usually point at prior work
# How abstracts speak of baselines and earlier work (whose properties are not the paper's).
PRIOR_RE = re.compile(
    r"\b(?:existing|previous|prior|traditional|conventional|current|recent (?:works?|methods|"
    r"approaches|studies|models)|these (?:models|methods|llms|approaches|systems|works)|"
    r"baselines?|most (?:of the )?(?:existing )?(?:models|methods|approaches)|other methods|"
    r"however|although|while)\b",
    re.IGNORECASE,
)
# The paper's own experiments speak of the paper too ("Extensive experiments show ...").
OWN_WORK = frozenset(
    stem(w) for w in word_set("experiments results evaluations analyses studies ablations findings")
)
SELF_PHRASES = re.compile(
    r"\b(?:this|the present|the current) (?:paper|work|study|article)\b|\bthe authors?\b"
    r"|\bthe proposed\b|\bour\b|\bwe\b",
    re.IGNORECASE,
)
# An auxiliary or one of these verbs ends a claim's subject.
AUX = word_set(
    "is are was were be been has have had can could will would may might should does do did"
)
_VERBS = word_set(
    """achieve outperform propose introduce present use offer show improve enable require
    provide demonstrate learn train reach consist contain include face focus suffer boost
    reduce produce generate combine predict rely remain exhibit allow help utilize leverage
    employ adopt address tackle extend build make perform surpass exceed beat yield obtain
    attain capture cover unify support rank match evaluate release outline describe explore
    study integrate incorporate apply lead bring increase decrease lower raise involve solve
    exploit enhance facilitate serve mean refer find reveal report observe develop design
    create conduct struggle fail lack need depend continue refine encode replace transform
    guide select retrieve extract align fuse distill"""
)


def _forms(verb: str) -> set[str]:
    """A verb's regular forms ("enhance" stems to "enh" but "enhances" to "enhanc", so every
    form's stem is listed)."""
    base = verb[:-1] if verb.endswith("e") else verb
    third = verb + ("es" if verb.endswith(("s", "sh", "ch", "x")) else "s")
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        third, past = verb[:-1] + "ies", verb[:-1] + "ied"
    else:
        past = base + "ed"
    return {verb, third, past, base + "ing"}


_ALL_FORMS = frozenset(f for v in _VERBS for f in _forms(v))
VERB_HEADS = frozenset(stem(f) for f in _ALL_FORMS)
_VERB_FORMS = frozenset(f for f in _ALL_FORMS if not f.endswith("ing"))  # "training data"
# Noun endings: "performance" stems like "perform" but is no verb.
_NOUN_END = re.compile(r"(?:ance|ence|ment|tion|sion|ers?|ors?|ings?|ity|ness)$")


def is_verb(tok: Tok) -> bool:
    """A known verb in a verbal form (not "performance", "training" or "learner")."""
    text = tok.text.lower()
    if tok.kind != "word" or tok.key not in VERB_HEADS:
        return False
    return text in _VERB_FORMS or not _NOUN_END.search(text)


_TOKEN_RE = re.compile(r"n't|[A-Za-z][A-Za-z0-9]*(?:[-'’][A-Za-z0-9]+)*|[,;:()]")
PASSIVE_RE = re.compile(
    r"\b(?:is|are|was|were|be|been|being)\s+(?:\w+ly\s+)?\w+(?:ed|en|wn|lt|de|ht|nd)\s+by\b",
    re.IGNORECASE,
)
SPLIT_CLAUSE = word_set(", ; : which while whereas")
REGION_EDGE = word_set(", ; : ( ) that which since because while whereas however")


@dataclass(frozen=True)
class Tok:
    kind: str  # "word", "stop", "num", "punct"
    key: str  # stem, number key, or the lower-cased word
    pos: int  # character offset
    text: str = ""  # as written


def tokens(text: str) -> list[Tok]:
    """Words, numbers (one token each, "360 million" included) and clause punctuation."""
    spans: list[tuple[int, int, str]] = []
    for m in re.finditer(
        r"(?<![A-Za-z0-9_.\-/\\])\d[\d,.]*(?:[-–]\d[\d,.]*)?(?:\s?(?:%|\\%|percent|[KkMBT]\b|"
        r"million|billion|thousand|x\b))?(?![A-Za-z0-9])",
        text,
    ):
        found = number_mentions(m.group())
        if found:  # a range "7-8B" is one token
            spans.append((m.start(), m.end(), "-".join(f.key for f in found)))
    out: list[Tok] = []
    taken = [(a, b) for a, b, _ in spans]
    keys = {a: k for a, _, k in spans}
    for m in _TOKEN_RE.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        raw = m.group().replace("’", "'")
        word = raw.lower()
        if word in ",;:()":
            out.append(Tok("punct", word, m.start(), raw))
        elif word in NUMBER_WORDS:
            out.append(Tok("num", NUMBER_WORDS[word], m.start(), raw))
        elif word in STOPWORDS or word in NEGATORS or word in QUANTIFIERS:
            out.append(Tok("stop", word, m.start(), raw))
        else:
            out.append(Tok("word", stem(word), m.start(), raw))
    out += [Tok("num", keys[a], a, keys[a]) for a, _ in taken]
    return sorted(out, key=lambda t: t.pos)


@dataclass(frozen=True)
class Evidence:
    """The evidence sentence the judge chose, with what may be composed with it."""

    sentence: str
    neighbours: tuple[str, ...] = ()  # the sentences just before and after it
    title: str = ""
    method_names: frozenset[str] = frozenset()  # stems of the paper's own method names
    others: tuple[str, ...] = ()  # every abstract sentence, for clause-wise composition


def words_of(toks: Sequence[Tok]) -> set[str]:
    return {t.key for t in toks if t.kind in ("word", "num")}


def subject_of(toks: Sequence[Tok]) -> list[Tok]:
    """Tokens before the claim's first auxiliary, else before its first known verb (empty
    when neither comes before a clause break)."""
    clause: list[Tok] = []
    for t in toks:
        if t.kind == "punct" and t.key in ",;:":
            break
        clause.append(t)
    for i, t in enumerate(clause):
        if i and ((t.kind == "stop" and t.key in AUX) or is_verb(t)):
            return clause[:i]
    return []


def about_paper(toks: Sequence[Tok], method: frozenset[str]) -> bool:
    """The claim opens with the paper's own method or a self-reference."""
    first = [t.key for t in toks if t.kind != "punct"][:4]
    return bool(set(first) & (method | SELF_REFERENCE | SELF_STEMS))


def is_self(toks: Sequence[Tok], method: frozenset[str]) -> bool:
    words = {t.key for t in toks}
    if words & (SELF_REFERENCE | method | SELF_STEMS):
        return True
    content = [t for t in toks if t.kind == "word"]
    return not content and bool(words & PRONOUNS)  # a bare "it" continues about the paper


def speaks_of_paper(sentence: str, method: frozenset[str]) -> bool:
    return bool(SELF_PHRASES.search(sentence)) or bool(words_of(tokens(sentence)) & method)


# "we propose X", "we build a benchmark dataset ...": what follows is the paper's own.
_OWN_MAKES = re.compile(
    r"\b(?:we|this (?:paper|work|study)|the authors)\s+(?:\w+ly\s+|also\s+|then\s+|further\s+)?"
    r"(?:propos|introduc|present|develop|design|buil|construct|creat|curat|collect|releas|"
    r"contribut|deriv|train|formulat|establish|call|nam|dub|term)\w*\b((?:\W+[\w-]+){1,10})",
    re.IGNORECASE,
)


def introduces(sentence: str, named: set[str]) -> bool:
    """``sentence`` says the paper makes the thing ``named`` (stems) names: "we develop a
    benchmark dataset ..." introduces {"benchmark", "dataset"}."""
    return bool(named) and any(
        named <= words_of(tokens(m.group(1))) for m in _OWN_MAKES.finditer(sentence)
    )


def introduced_at(sentence: str) -> int | None:
    """Where ``sentence`` says "we propose / introduce ...", or None."""
    m = _OWN_MAKES.search(sentence)
    return None if m is None else m.start()


def titled(source: str) -> bool:
    """Sources are passed as title + newline + abstract; a first line without a full stop that
    is followed by more text is taken to be the title."""
    head, _, rest = source.partition("\n")
    return bool(rest.strip()) and len(head) < 300 and not head.rstrip().endswith(".")


def paper_names(source: str) -> frozenset[str]:
    if not titled(source):
        return frozenset()
    title, _, abstract = source.partition("\n")
    return method_names(title, abstract)


def _coined(word: str) -> bool:
    """A coined name: mixed case ("UniVTG", "ShapefileGPT"), a digit ("M4LE"), or capitals
    joined by a hyphen ("SIM-RAG"); not an acronym's plural ("LLMs")."""
    if re.fullmatch(r"[A-Z]+s", word):
        return False
    camel = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
    caps = "-" in word and any(re.fullmatch(r"[A-Z]{2,}", part) for part in word.split("-"))
    digit = any(c.isdigit() for c in word) and any(c.isupper() for c in word)
    return (camel and "-" not in word) or caps or digit


# "we propose X", "introducing a new framework, SIM-RAG", "(MVLPT)": the name right after it
_INTRODUCES = re.compile(
    r"\b(?:propos|introduc|present|develop|call|nam|term|dub)\w*\b((?:\W+[\w-]+){1,8})",
    re.IGNORECASE,
)


def method_names(title: str, abstract: str = "") -> frozenset[str]:
    """Stems of the names a paper gives its own method: the title's part before ':' when it
    is a name (at most three words), and coined words ("UniVTG", "SIM-RAG") of the title and
    of the abstract's "we propose / introduce ..." sentences."""
    names: set[str] = set()
    head, colon, _ = title.partition(":")
    if colon and len(head.split()) <= 3:
        names |= {stem(w.lower()) for w in re.findall(r"[A-Za-z0-9][\w-]*", head)}
    for word in re.findall(r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]", title):
        if _coined(word):
            names.add(stem(word.lower()))
    for m in _INTRODUCES.finditer(abstract):
        window = m.group(1)
        for word in re.findall(r"\(?[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]\)?", window):
            if _coined(word.strip("()")) or re.fullmatch(r"\([A-Z]{3,}\)", word):
                names.add(stem(word.strip("()").lower()))  # a coined name, or "(MVLPT)"
                break
    return frozenset(names)
