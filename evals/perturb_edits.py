"""Rules for negation, quantifier and vacuous claims, and for the GOOD (faithful) controls.

Negation may add the single word "not", a quantifier rule the single word "all" or "always";
vacuous claims and light paraphrases may add only :data:`FRAME_WORDS`. Everything else is the
source's own words. :func:`evals.perturb.generate` checks that for every draft.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from evals.perturb_info import Draft, PaperInfo, Rule, clause, is_own
from evals.perturb_text import (
    NUMBER_WORDS,
    cap,
    core,
    decap,
    is_adverb,
    join,
    number_core,
    plural,
    trailing_punct,
    verb_number,
    wordset,
)

FRAME_WORDS = wordset("this paper is about what the authors their they proposed method and are")
NEGATION_WORDS = frozenset({"not", "no", "without"})
QUANTIFIER_WORDS = frozenset({"all", "always", "every", "only"})


def _with_case(old: str, new: str) -> str:
    return cap(new) if old[:1].isupper() else new


# --- negation ------------------------------------------------------------------------------------

_NEGATABLE = wordset("is are was were can could may might will would should must")


def negation(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        toks = s.split()
        if any(core(t) in {"nor", "neither"} for t in toks) or s.endswith("?"):
            continue
        for i, t in enumerate(toks[:-1]):
            c, nxt = core(t), core(toks[i + 1])
            bare, punct = trailing_punct(t)
            if c in {"not", "never"} and nxt != "only" and not punct and i > 0:
                new = toks[:i] + toks[i + 1 :]
                out.append(Draft(s, join(new), f"removed '{c}' before '{nxt}'"))
            elif c == "no" and not punct and i > 0 and nxt not in {"longer"}:
                new = toks[:i] + toks[i + 1 :]
                out.append(Draft(s, join(new), f"removed 'no' before '{nxt}'"))
            elif c == "cannot" and "can" in info.vocab:
                new = [*toks[:i], bare.replace("annot", "an") + punct, *toks[i + 1 :]]
                out.append(Draft(s, join(new), "'cannot' made 'can'"))
            elif c == "without" and "with" in info.vocab and not nxt.endswith("ing"):
                skip = 2 if nxt == "any" else 1
                new = [*toks[:i], _with_case(t, "with"), *toks[i + skip :]]
                out.append(Draft(s, join(new), f"'without' made 'with' before '{nxt}'"))
        for i, t in enumerate(toks[1:-1], start=1):
            if core(t) not in _NEGATABLE or trailing_punct(t)[1]:
                continue
            at = i + 1
            while at < len(toks) - 1 and is_adverb(toks[at]):
                at += 1
            if core(toks[at]) in {"not", "no", "never", "only"} or "not" in map(core, toks[i:at]):
                continue
            new = [*toks[:at], "not", *toks[at:]]
            out.append(Draft(s, join(new), f"inserted 'not' after '{join(toks[i:at])}'"))
            break  # the first auxiliary only: it is the main clause's in most sentences
    return out


# --- quantifier ----------------------------------------------------------------------------------

_TO_ALL = wordset("some many most several various numerous")
_TO_ALWAYS = wordset("often usually typically generally frequently sometimes commonly occasionally")
_BEATS = wordset("outperforms outperform outperforming surpasses surpassing beats exceeds")
_NOT_BEFORE_ALL = wordset("the a one as how so too")
_NOT_COUNTABLE = wordset("billion million thousand hundred orders of") | NUMBER_WORDS


def quantifier(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        toks = s.split()
        for i, t in enumerate(toks[:-1]):
            c, nxt = core(t), core(toks[i + 1])
            prev = core(toks[i - 1]) if i else ""
            bare, punct = trailing_punct(t)
            if punct or nxt in {"all", "always", "every"} or prev in {"all", "always"}:
                continue
            if c in _TO_ALL and prev not in _NOT_BEFORE_ALL and nxt not in _NOT_COUNTABLE:
                if number_core(toks[i + 1]) is None:
                    new = [*toks[:i], _with_case(bare, "all"), *toks[i + 1 :]]
                    out.append(Draft(s, join(new), f"'{c}' made 'all' before '{nxt}'"))
            elif c in _TO_ALWAYS:
                new = [*toks[:i], _with_case(bare, "always"), *toks[i + 1 :]]
                out.append(Draft(s, join(new), f"'{c}' made 'always'"))
            elif c in {"can", "may", "could"} and verb_number(toks[i + 1]) == "pl":
                new = [*toks[: i + 1], "always", *toks[i + 1 :]]
                out.append(Draft(s, join(new), f"inserted 'always' after '{c}'"))
            elif c in _BEATS and number_core(toks[i + 1]) is None:
                head = join(toks[i + 1 : i + 6]).split(",")[0]
                if nxt not in {"a", "an", "its", "their"} and plural(head):
                    new = [*toks[: i + 1], "all", *toks[i + 1 :]]
                    out.append(Draft(s, join(new), f"inserted 'all' after '{c}'"))
    return out


# --- vacuous -------------------------------------------------------------------------------------

_LIST_MARKERS = (" such as ", " including ", " e.g., ", ": ")


def vacuous(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    title = info.title.rstrip(".!?")
    first_own = next((s for s in info.sentences if info.own.lower() in s.lower()), title)
    echo = f"This paper is about {title}."
    out.append(Draft(info.title, echo, "title echo"))
    if info.name:
        out.append(Draft(first_own, f"{info.name} is {info.name}.", "tautology"))
        out.append(Draft(first_own, f"What is {info.name}?", "restated question"))
    for idx in info.usable:
        s = info.sentences[idx]
        for marker in _LIST_MARKERS:
            at = s.find(marker)
            if at > 0 and 3 <= len(s[:at].split()) <= 15 and "(" not in s[:at]:
                stub = s[:at].rstrip(",") + ":"
                out.append(Draft(s, stub, f"stub ending before '{marker.strip()}'"))
                break
        c = clause(idx, s)
        if c and not is_own(info, c.subject) and 2 <= len(c.subject.split()) <= 6:
            p = plural(c.subject) if c.number == "any" else c.number == "pl"
            if p is not None:
                be = "are" if p else "is"
                claim = f"{c.subject} {be} {decap(c.subject, info.abstract)}."
                out.append(Draft(s, claim, "tautology"))
    return out


# --- GOOD controls -------------------------------------------------------------------------------


def verbatim(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    return [Draft(info.sentences[i], info.sentences[i], "exact sentence") for i in info.usable]


_ACRONYM_PAREN = re.compile(
    r" \((?:[A-Z][A-Za-z0-9-]*[A-Z0-9]s?|\d|i\.e\.,?[^()]*|e\.g\.,?[^()]*|such as [^()]*|"
    r"including [^()]*)\)"
)
_DISCOURSE = re.compile(
    r"^(?:However|Furthermore|Moreover|Additionally|In addition|Specifically|Besides|Finally|"
    r"Overall|Therefore|Thus|Consequently|Surprisingly|Interestingly|Notably|Importantly|"
    r"In particular|More importantly|Nevertheless|Practically|Then|Second|Third), "
)
_SAFE_ADVERBS = wordset(
    "significantly substantially remarkably efficiently effectively explicitly seamlessly clearly "
    "greatly dramatically notably successfully naturally also convincingly"
)
_TRAILING_ING = re.compile(r", (?:thereby |thus )?[a-z]+ing\b[^,;()]*\.$")


def _drop_adverbs(text: str) -> str:
    toks = text.split()
    return join(
        t
        for i, t in enumerate(toks)
        if core(t) not in _SAFE_ADVERBS or "," in t or i and core(toks[i - 1]) == "but"
    )


_COMPRESSIONS: dict[str, Callable[[str], str]] = {
    "parentheticals removed": lambda x: _ACRONYM_PAREN.sub("", x),
    "opening connective removed": lambda x: cap(_DISCOURSE.sub("", x)),
    "adverbs removed": _drop_adverbs,
    "trailing participle clause removed": lambda x: _TRAILING_ING.sub(".", x),
}


def compression(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        done = [k for k, edit in _COMPRESSIONS.items() if edit(s) != s]
        out.extend(Draft(s, _COMPRESSIONS[k](s), k) for k in done)
        if len(done) > 1:
            text = s
            for k in done:
                text = _COMPRESSIONS[k](text)
            out.append(Draft(s, text, "; ".join(done)))
    return [d for d in out if len(d.claim.split()) >= 5]


_FRONTED = re.compile(
    r"^(?P<front>(?:To|In|On|For|With|By|Under|Using|Through|Across|During|After|Despite|Unlike|"
    r"Compared to|Given|Based on|Thanks to|While|When|Although|Because|Since|Building on|Beyond|"
    r"Among|Powered by|Motivated by|Built from)\b[^,;:]{3,}), (?P<main>[^,;:]+?)(?P<end>[.!?])$"
)
_CONNECTIVES = wordset("however thus therefore hence but and so yet then instead or which")


def clause_reorder(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        m = _FRONTED.match(s)
        if m and re.match(r"In (?:addition|particular|contrast|summary|short|general)\b", s):
            m = None  # connectives, not adverbials: they stay in front
        main = m.group("main").split() if m else []
        if m and core(main[0]) not in _CONNECTIVES and len(main) <= 22:
            main_text, front = m.group("main"), m.group("front")
            relative = any(core(t) in {"which", "that", "who", "where"} for t in main)
            if any(verb_number(t) for t in main) and not relative:
                claim = f"{cap(main_text)} {front[:1].lower()}{front[1:]}{m.group('end')}"
                out.append(Draft(s, claim, f"fronted '{front}' moved to the end"))
        parts = s.rstrip(".").split("; ")
        if len(parts) == 2 and all(len(p.split()) >= 4 for p in parts):
            left, right = parts
            r0 = core(right.split()[0])
            if (
                right[:1].islower()
                and r0 not in _CONNECTIVES | {"this", "these", "it", "they", "such"}
                and not _DISCOURSE.match(left)
                and all(any(verb_number(t) for t in p.split()) for p in parts)
            ):
                claim = f"{cap(right)}; {decap(left, info.abstract)}."
                out.append(Draft(s, claim, "the two clauses around ';' exchanged"))
    return out


_FIRST_PERSON = re.compile(r"^In this (?:paper|work|study), we\b|\b[Ww]e\b|\b[Oo]ur\b")


def _third_person(text: str) -> str:
    """ "We ... our ..." -> "The authors ... their ..." (the first mention names the authors)."""
    named = False

    def repl(m: re.Match[str]) -> str:
        nonlocal named
        word = m.group().split()[-1].lower()
        if named:
            return "they" if word == "we" else "their"
        named = True
        new = "the authors" if word == "we" else "the authors'"
        return cap(new) if m.start() == 0 else new

    return re.sub(r"^This (?=paper|work)", "The ", _FIRST_PERSON.sub(repl, text))


def light_paraphrase(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        if re.search(r"\b(?:us|ours|ourselves)\b|\bwe'", s, re.IGNORECASE):
            continue
        text = _third_person(s)
        if text != s:
            out.append(Draft(s, text, "first person rewritten as 'the authors'"))
    return out


EDIT_RULES: dict[str, Rule] = {
    "negation": negation,
    "quantifier": quantifier,
    "vacuous": vacuous,
    "verbatim": verbatim,
    "compression": compression,
    "clause_reorder": clause_reorder,
    "light_paraphrase": light_paraphrase,
}
