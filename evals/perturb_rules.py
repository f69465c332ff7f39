"""Rules for role_swap and the number kinds: Drafts made only of the source's own words.

A rule skips any sentence its pattern does not fit cleanly; :func:`evals.perturb.generate`
then validates every draft (new words, unchanged or accidentally true claims) before use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from evals.perturb_info import Draft, PaperInfo, Rule, agrees
from evals.perturb_text import (
    MODALS,
    PRONOUNS,
    THIRD_OF,
    balanced,
    cap,
    core,
    decap,
    is_adverb,
    join,
    number_core,
    number_kind,
    numeric_value,
    trailing_punct,
    verb_number,
    wordset,
)

# --- role_swap -----------------------------------------------------------------------------------

_REL = (
    "outperform surpass beat exceed outweigh precede replace extend utilize leverage use integrate "
    "incorporate adopt employ generate produce train guide encode boost enhance support require "
    "contain comprise combine extract distill predict retrieve supervise dominate rely depend "
    "benefit capture exploit handle inform refine select learn"
)
# Base and -s forms only: past forms ("supervised", "generated") are adjectives too often.
REL_FORMS = frozenset(f for s in _REL.split() for f in (s, THIRD_OF[s])) | wordset(
    "outperformed surpassed exceeded"
)
COMPARATIVES = wordset("better worse more less fewer higher lower faster slower stronger")
_CONJ = wordset("that which where while whereas because when if and but than")
_PREP = wordset(
    "on in by across using with at during under via through for to from as into over between "
    "within like such including be been being not"
)
_FWD_STOP = _PREP - {"be", "been", "being", "not"} | wordset(
    "while when whereas that which who where"
)


def _finite(token: str) -> bool:
    return verb_number(token) in {"sg", "pl"} or core(token) in MODALS


def _np_back(toks: list[str], end: int) -> int:
    """Start of the subject noun phrase ending just before ``end`` (-1 when there is none).

    The phrase must start a clause: at the sentence start, after punctuation, a conjunction or
    a finite verb ("show ToC boosts"), never after a preposition ("during training enhance").
    """
    start = end
    while start > 0:
        t = toks[start - 1]
        if trailing_punct(t)[1] or core(t) in _CONJ or _finite(t):
            break
        if core(t) in _PREP:
            return -1
        start -= 1
    a = toks[start:end]
    if not 1 <= len(a) <= 6 or a[0].startswith("(") or not re.search(r"[A-Za-z]{2}", join(a)):
        return -1
    return start


def _np_fwd(toks: list[str], start: int) -> int:
    """End index (exclusive) of a noun phrase starting at ``start``, or -1 if it ends badly."""
    k = start
    while k < len(toks) and k - start < 10:
        t = toks[k]
        if k > start and (core(t) in _FWD_STOP or _finite(t)):
            break
        k += 1
        if trailing_punct(t)[1]:
            break
    first = core(toks[start]) if start < len(toks) else ""
    if not 1 <= k - start <= 9 or first in _PREP | _CONJ | {"how", "whether"}:
        return -1
    punct = trailing_punct(toks[k - 1])[1]
    nxt = core(toks[k]) if k < len(toks) else ""
    clean = (
        punct in {".", ";", "!", "?"}
        or (not punct and (not nxt or nxt in _FWD_STOP - {"to", "as", "like", "such"}))
        or (punct == "," and (nxt in {"while", "whereas", "which", "thereby", "thus"}))
        or (punct == "," and nxt.endswith("ing") and nxt != "including")
    )
    return k if clean and not first.endswith("ing") and core(toks[k - 1]) not in _PREP else -1


def _swap_around(toks: list[str], i: int, glen: int, source: str) -> Draft | None:
    j = i
    while j > 0 and (is_adverb(toks[j - 1]) or core(toks[j - 1]) in MODALS):
        j -= 1
    a0 = _np_back(toks, j)
    b1 = _np_fwd(toks, i + glen) if a0 >= 0 else -1
    if b1 < 0:
        return None
    a, b = toks[a0:j], toks[i + glen : b1]
    if core(a[0]) in PRONOUNS or not balanced(a) or not balanced(b):
        return None
    if core(a[-1]) in COMPARATIVES or any(
        core(x[-1]).endswith("ed") or is_adverb(x[-1]) for x in (a, b)
    ):
        return None  # "better utilizes", "a phase followed | by"
    if "each other" in join(b).lower() or "one another" in join(b).lower():
        return None  # reciprocal: swapping changes nothing
    number = "any" if any(core(t) in MODALS for t in toks[j:i]) else verb_number(toks[i]) or "any"
    if not agrees(join(b), number):
        return None
    b_last, punct = trailing_punct(b[-1])
    new_b, new_a = [*b[:-1], b_last], [*a[:-1], a[-1] + punct]
    if a0 == 0:
        new_b[0], new_a[0] = cap(new_b[0]), decap(new_a[0], source)
    claim = join([*toks[:a0], *new_b, *toks[j : i + glen], *new_a, *toks[b1:]])
    verb = join(toks[i : i + glen])
    b_text = join([*b[:-1], b_last])
    return Draft("", claim, f"swapped '{join(a)}' and '{b_text}' around '{verb}'")


_THAN = re.compile(
    r"\b(?:better|worse|more|less|higher|lower|faster|stronger) (?P<a>(?P<p>on|in|for|at|with) "
    r"[^,;()]+?) than (?P<b>(?P=p) [^,;()]+?)(?=[,;.]|$)"
)
# "from A to B" is a direction only after words like these; "ranging from A to B" is not.
_DIRECTIONAL = re.compile(
    r"\b(?:transfer|transfers|transferring|transferred|map|maps|mapping|function|translat\w+|conver\w+|transform\w*|shift\w*|"
    r"generaliz\w+|distill\w*|adapt\w*|project\w*|transition\w*|migrat\w+|mov\w+)"
    r"(?: \S+){0,4} $"
)
_FROM_TO = re.compile(
    r"\bfrom (?P<a>[^,;()]+?) to (?P<b>[^,;()]+?)"
    r"(?=[,;.]| (?:and|while|with|in|on|by|for|using|via|through|during)\b|$)"
)


def _span_swap(s: str, m: re.Match[str], what: str) -> Draft | None:
    a, b = m.group("a"), m.group("b")
    if m.re is _FROM_TO and not _DIRECTIONAL.search(s[: m.start()]):
        return None
    if any(core(t) in {"or", "and", "be"} for t in (a + " " + b).split()):
        return None
    if any(len(x.split()) > 5 or any(verb_number(t) for t in x.split()) for x in (a, b)):
        return None
    if all(number_core(t) for t in a.split() + b.split()) or a.lower() == b.lower():
        return None
    claim = s[: m.start("a")] + b + s[m.end("a") : m.start("b")] + a + s[m.end("b") :]
    return Draft("", claim, f"swapped '{a}' and '{b}' {what}")


def role_swap(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        toks = s.split()
        for i, t in enumerate(toks[:-1]):
            c, nxt = core(t), core(toks[i + 1])
            glen = 0
            if c in REL_FORMS:
                glen = 2 if nxt in {"over", "on", "from"} else 1
            elif verb_number(t) and nxt in COMPARATIVES and i + 2 < len(toks):
                glen = 3 if core(toks[i + 2]) == "than" else 0
            elif c in {"is", "are", "was", "were"} and nxt.endswith("ed") and i + 3 < len(toks):
                if trailing_punct(toks[i + 1])[1]:
                    continue
                after = core(toks[i + 2])
                if after == "to" and verb_number(toks[i + 3]) == "pl":
                    glen = 4
                elif after in {"on", "from", "by", "into", "with"}:
                    glen = 3
            d = _swap_around(toks, i, glen, info.abstract) if glen else None
            if d:
                out.append(Draft(s, d.claim, d.detail))
        for rx, what in ((_THAN, "around 'than'"), (_FROM_TO, "in 'from ... to ...'")):
            for m in rx.finditer(s):
                d = _span_swap(s, m, what)
                if d:
                    out.append(Draft(s, d.claim, d.detail))
    return out


# --- numbers -------------------------------------------------------------------------------------


def _number_pairs(toks: list[str]) -> list[tuple[int, str, int, str]]:
    """Pairs of different numbers of one kind in a sentence, ranges ("1k to 8k") excluded."""
    nums = [(i, n) for i, t in enumerate(toks) if (n := number_core(t)) is not None]
    out = []
    for x, (i, a) in enumerate(nums):
        for j, b in nums[x + 1 :]:
            between = [core(t) for t in toks[i + 1 : j]]
            if numeric_value(a) == numeric_value(b) or number_kind(a) != number_kind(b):
                continue
            if between in (["to"], ["-"], ["–"], []) or toks[i].endswith("-"):
                continue
            out.append((i, a, j, b))
    return out


def _put(toks: list[str], i: int, old: str, new: str) -> None:
    toks[i] = toks[i].replace(old, new, 1)


def number_swap(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        toks = s.split()
        for i, a, j, b in _number_pairs(toks):
            new = list(toks)
            _put(new, i, a, b)
            _put(new, j, b, a)
            out.append(Draft(s, join(new), f"exchanged the numbers '{a}' and '{b}'"))
    return out


_NUM = r"(?:\d[\d,.]*(?:\+|%|\\%|[KMBkmb])?|two|three|four|five|six|seven|eight|nine|ten)"
_RESPECTIVELY = re.compile(
    rf"\b(?P<n1>{_NUM})(?P<mid>(?:, {_NUM})*,? and {_NUM})(?P<rest> [^,;.]*?)"
    r"(?P<resp>,? respectively)"
)


def number_drop_partial(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        for m in _RESPECTIVELY.finditer(s):
            claim = s[: m.end("n1")] + m.group("rest") + s[m.end("resp") :]
            detail = f"'{m.group('n1')}{m.group('mid')} ... respectively' cut to one number"
            out.append(Draft(s, claim, detail))
        toks = s.split()
        for i, a, j, b in _number_pairs(toks):
            if "rightarrow" in map(core, toks[i:j]):
                continue  # "0.336 rightarrow 0.336" claims nothing
            for keep, drop, at in ((a, b, j), (b, a, i)):
                new = list(toks)
                _put(new, at, drop, keep)
                detail = f"'{drop}' replaced by '{keep}': one number claimed for both"
                out.append(Draft(s, join(new), detail))
    return out


RULES: dict[str, Rule] = {
    "role_swap": role_swap,
    "number_swap": number_swap,
    "number_drop_partial": number_drop_partial,
}
