"""What the perturbation rules know about one paper, and the clause parser they share.

Standard library only (plus :class:`assistant.types.Paper` as an input type).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from assistant.types import Paper
from evals.perturb_text import (
    MODALS,
    PRONOUNS,
    balanced,
    cap,
    core,
    is_adverb,
    plural,
    split_sentences,
    trailing_punct,
    verb_number,
    vocabulary,
    words,
    wordset,
)

Split = Literal["dev", "test"]

STOPWORDS = wordset(
    "a an the of for in on with to and or by from via at as is are be we our this that these "
    "using based towards toward its their it can than into over under"
)
# A clause subject never starts with (or ends on) these.
_NOT_SUBJECT_START = wordset(
    "to in on for with by under using through across during after despite unlike compared given "
    "based however while when although because since if as besides moreover furthermore "
    "additionally specifically finally first second third then thus therefore also and but or "
    "nevertheless overall here there what how why whether"
)
_NOT_SUBJECT_END = wordset("the a an of for in on with to and or our their its this these by")
_NOT_SUBJECT_WORD = wordset("to that which who whether how when where if")
ANAPHORIC = wordset("this these such it they we our its their those")


@dataclass(frozen=True)
class Draft:
    """One candidate before validation: where it came from, what to judge, what changed."""

    original: str
    claim: str
    detail: str
    cite: str = ""  # empty: the source paper itself


@dataclass(frozen=True)
class Clause:
    """A sentence read as subject + predicate: "Cappy | clearly outperforms LLMs ..."."""

    index: int  # sentence index in the abstract
    subject: str
    predicate: list[str]  # tokens, adverbs in front of the verb included
    number: str  # the verb's "sg" | "pl" | "any"


@dataclass(frozen=True)
class PaperInfo:
    paper_id: str
    title: str
    abstract: str
    sentences: tuple[str, ...]
    usable: tuple[int, ...]  # sentences fit for rewriting (no URL, 6..60 words)
    vocab: frozenset[str]
    name: str | None  # a coined method name ("Cappy", "R-MTGB"), when one is found
    own: str  # how a claim names the method: the name, "Our approach", "The proposed method"
    split: Split


Rule = Callable[[PaperInfo, Sequence[PaperInfo]], list[Draft]]


def split_of(paper_id: str) -> Split:
    """A fixed split by a hash of the id: tune on "dev", report on "test"."""
    return "test" if int(hashlib.sha256(paper_id.encode()).hexdigest(), 16) % 2 == 1 else "dev"


def _coined(head: str) -> bool:
    toks = head.split()
    if not 1 <= len(toks) <= 3:
        return False
    if len(toks) == 1 and head[:1].isupper():
        return True
    return any(any(c.isupper() for c in t[1:]) or any(c.isdigit() for c in t) for t in toks)


def method_name(title: str, abstract: str) -> str | None:
    """The method's coined name: the title before ":", else an acronym the authors introduce."""
    if ":" in title:
        head = title.split(":", 1)[0].strip()
        if _coined(head):
            found = re.search(rf"(?<![\w-]){re.escape(head)}(?![\w-])", abstract, re.IGNORECASE)
            return found.group() if found else head
    m = re.search(
        r"\b(?:propose|introduce|present|contribute|develop)\b[^.;]{0,120}?"
        r"\(([A-Z][A-Za-z0-9-]*[A-Z0-9][A-Za-z0-9-]*)\)",
        abstract,
    )
    if m and len(re.findall(rf"\b{re.escape(m.group(1))}\b", abstract)) >= 2:
        return m.group(1)
    m = re.search(r"\b(?:propose|introduce)\s+([A-Za-z][a-z]*[A-Z][A-Za-z0-9-]*)\b", abstract)
    return m.group(1) if m else None


_OWN = re.compile(
    r"\b(?:our|the proposed) (?:proposed )?(?:method|approach|model|framework|mechanism|system|"
    r"algorithm|scheme|paradigm|architecture|benchmark|dataset|methodology)\b",
    re.IGNORECASE,
)


def analyse(paper: Paper) -> PaperInfo:
    sentences = tuple(split_sentences(paper.abstract))
    usable = tuple(
        i
        for i, s in enumerate(sentences)
        if 6 <= len(words(s)) <= 60 and not re.search(r"https?:|github|www\.|@", s)
    )
    name = method_name(paper.title, paper.abstract)
    own_m = _OWN.search(paper.abstract)
    own = name or (cap(own_m.group()) if own_m else "The proposed method")
    return PaperInfo(
        paper_id=paper.paper_id,
        title=paper.title,
        abstract=paper.abstract,
        sentences=sentences,
        usable=usable,
        vocab=vocabulary(paper.title, paper.abstract),
        name=name,
        own=own,
        split=split_of(paper.paper_id),
    )


def is_own(info: PaperInfo, phrase: str) -> bool:
    """Whether a noun phrase refers to the paper's own method ("Cappy", "our model", "it")."""
    low = phrase.lower()
    first = core(phrase.split(" ", 1)[0]) if phrase else ""
    return bool(info.name and info.name.lower() in low) or first in ANAPHORIC or "proposed" in low


_CUT = wordset("while whereas but yet")


_CLAUSE_START = wordset(
    "which while whereas where who and but or thereby thus so yet as since because although "
    "e.g. i.e. such including"
)


def _new_clause(token: str) -> bool:
    c = core(token)
    return c in _CLAUSE_START or c.endswith("ing") or is_adverb(token) or token[:1].isupper()


def clause_end(toks: list[str]) -> list[str]:
    """The tokens of the first clause: up to a ";" or ":", or a "," that starts a new clause
    (", making ...", ", which ...") outside brackets; "simpler, sequential subtasks" stays."""
    depth = 0
    for i, t in enumerate(toks):
        if i and core(t) in _CUT:
            return [*toks[: i - 1], trailing_punct(toks[i - 1])[0]]
        depth += t.count("(") - t.count(")")
        bare, punct = trailing_punct(t)
        if not punct or depth > 0 or i + 1 == len(toks):
            continue
        if punct != "," or _new_clause(toks[i + 1]):
            return [*toks[:i], bare]
    return [*toks[:-1], trailing_punct(toks[-1])[0]] if toks else []


def _finite_at(toks: list[str], k: int) -> str | None:
    """The number of a finite verb at ``k``; a past form only when no finite verb follows soon.

    "The model proposed achieves": "proposed" is a participle, "achieves" the verb.
    """
    number = verb_number(toks[k])
    later = any(verb_number(t) in {"sg", "pl"} for t in toks[k + 1 : k + 9])
    if number == "any" and core(toks[k]) not in MODALS and (k > 3 or later):
        return None
    return number


def clause(index: int, sentence: str) -> Clause | None:
    """Subject + first-clause predicate of a sentence that starts with its subject, else None."""
    toks = sentence.split()
    if not toks or core(toks[0]) in _NOT_SUBJECT_START or not toks[0][:1].isupper():
        return None
    for k in range(1, min(len(toks), 10)):
        number = _finite_at(toks, k)
        if number is None or core(toks[k - 1]) in {"to", "the", "a", "an"}:
            continue
        start = k
        while start > 1 and is_adverb(toks[start - 1]):
            start -= 1
        subj = toks[:start]
        pred = clause_end(toks[start:])
        if (
            any(trailing_punct(t)[1] for t in subj)
            or any(core(t) in _NOT_SUBJECT_WORD for t in subj)
            or core(subj[-1]) in _NOT_SUBJECT_END
            or not balanced(subj)
            or not balanced(pred)
            or len(pred) < 3
        ):
            return None
        return Clause(index, " ".join(subj), pred, number)
    return None


def agrees(subject: str, number: str) -> bool:
    """Whether a subject can take a verb of this number ("sg", "pl", "any")."""
    if number == "any":
        return True
    if core(subject) in PRONOUNS:
        return False
    p = plural(subject)
    return p is not None and p == (number == "pl")


def head_word(np: str) -> str:
    """The head of a noun phrase: its last word before a preposition ("experiments on X")."""
    toks = [core(t) for t in re.sub(r"\([^()]*\)", " ", np).split()]
    for i, t in enumerate(toks):
        if i and t in {"of", "on", "in", "for", "with", "across", "from", "at", "by"}:
            return toks[i - 1]
    return toks[-1] if toks else ""


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS and len(w) > 2}
