"""Framing checks: what a claim says about the paper as a whole, against the whole abstract.

* **proposal**: "This paper proposes a new method ..." needs an abstract that proposes
  something ("we propose / introduce / present ...", "... is proposed"); a survey or a study
  that only "provides an overview" proposes nothing;
* **self-improvement**: the paper's own method named as what a new method improves ("a new
  method to enhance the performance of DTRN" where DTRN is the method the paper proposes);
* **repeated items**: a list naming the same item twice ("multi-task, multi-domain, and
  multi-domain");
* **unfinished answer sentences**: a cited sentence that stops without a full stop ("They
  propose a feature correlation within the proposed framework [1]").

Pure and deterministic; each check returns the reason a claim fails, or "".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.grounding.claims import Evidence, Tok, about_paper, introduced_at, tokens
from assistant.grounding.textnorm import stem, word_set

__all__ = ["framing_issue", "unfinished"]

_PROPOSES = re.compile(
    r"^(?:in )?(?:this|the) (?:paper|work|study|article)\s+(?:\w+ly\s+)?"
    r"(?:propos|introduc|present|develop|describ)\w*\s+(?:a|an)\s+(?:new|novel)\b"
    r"|^(?:we|the authors)\s+(?:\w+ly\s+)?(?:propos|introduc|present|develop)\w*\s+"
    r"(?:a|an)\s+(?:new|novel)\b",
    re.IGNORECASE,
)
_PASSIVE_PROPOSAL = re.compile(
    r"\b(?:is|are|was|were|been)\s+(?:\w+ly\s+)?(?:proposed|introduced|presented|developed)\b",
    re.IGNORECASE,
)
_IMPROVES = frozenset(
    stem(w)
    for w in word_set(
        """enhance enhances enhanced enhancing improve improves improved improving boost
        boosts boosted boosting"""
    )
)
_LIST_BREAK = word_set(", and or ;")


def _proposal(claim: str, ev: Evidence) -> str:
    if not _PROPOSES.search(claim):
        return ""
    said = [ev.sentence, ev.title, *ev.others]
    if any(introduced_at(s) is not None or _PASSIVE_PROPOSAL.search(s) for s in said):
        return ""
    return "the abstract proposes nothing new: it does not say 'we propose' or the like"


def _improves_own(claim: list[Tok], ev: Evidence) -> str:
    """A new method "to enhance <the paper's own method>"."""
    names = ev.method_names
    if not names or not about_paper(claim, names):
        return ""
    for i, t in enumerate(claim):
        if t.key not in _IMPROVES:
            continue
        hit = next((x for x in claim[i + 1 : i + 10] if x.key in names), None)
        if hit is None:
            continue
        for sentence in (ev.sentence, *ev.others):
            toks = tokens(sentence)
            for j, s in enumerate(toks):
                if s.key in _IMPROVES and any(x.key in names for x in toks[j + 1 : j + 10]):
                    return ""
        return f"{hit.text!r} is the paper's own method, not something it improves"
    return ""


def _repeated_item(claim: list[Tok]) -> str:
    items: list[tuple[str, ...]] = [()]
    for t in claim:
        if t.key in _LIST_BREAK:
            items.append(())
        elif t.kind in ("word", "num"):
            items[-1] = (*items[-1], t.key)
    listed = [i for i in items if i]
    for n, item in enumerate(listed):
        if len(item) == 1 and any(later[0] == item[0] for later in listed[n + 1 :]):
            return f"names {item[0]!r} twice in one list"
    return ""


def unfinished(unit: str, clean: str) -> bool:
    """An answer sentence that stops without a full stop (a cut-off generation); a list item
    ("1. Cappy boosts FLAN-T5 [1]") needs none."""
    if re.match(r"\s*(?:[-*•]|\d{1,2}[.)])\s+", unit):
        return False
    text = clean.rstrip(" \"'”’)")
    return bool(re.search(r"[A-Za-z]", text)) and not re.search(r"[.!?]$", text)


def framing_issue(claim: str, ev: Evidence, toks: Sequence[Tok] | None = None) -> str:
    c = list(toks) if toks is not None else tokens(claim)
    return _proposal(claim, ev) or _improves_own(c, ev) or _repeated_item(c)
