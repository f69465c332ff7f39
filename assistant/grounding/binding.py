"""Binding checks: is the claim about what its evidence is about, and from where it may be?

* **subject**: the words before the claim's verb must be what the evidence sentence speaks of
  (that sentence, the title, or the sentence before it, for an "It ..." there). A claim about
  the paper's own method ("Cappy", "the proposed method", "we") must rest on a clause about the
  method, never on one about a baseline or earlier work ("these LLMs", "existing methods").
* **composition**: the claim's words come from its evidence sentence, the title and at most
  one adjacent sentence; or each of its clauses ("X does A, reaching B") rests on one sentence
  of its own, about the same subject. Words the abstract never uses are paraphrase, weighed by
  the lexical score; words it uses elsewhere are what gets composed.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.grounding.claims import (
    OWN_WORK,
    PRIOR_RE,
    PRONOUNS,
    REGION_EDGE,
    SELF_REFERENCE,
    SELF_STEMS,
    VERB_HEADS,
    Evidence,
    Tok,
    about_paper,
    introduced_at,
    introduces,
    is_self,
    is_verb,
    speaks_of_paper,
    subject_of,
    tokens,
    words_of,
)
from assistant.grounding.textnorm import stem, word_set

__all__ = ["composition_issue", "subject_issue"]

_CLAUSE_BREAK = word_set(", ; and while whereas which with")
_GENERIC_SUBJECT = frozenset(stem(w) for w in ("method", "model", "approach", "paper", "work"))


def _clauses(toks: Sequence[Tok]) -> list[list[Tok]]:
    parts: list[list[Tok]] = [[]]
    for t in toks:
        if t.key in REGION_EDGE:
            parts.append([])
        else:
            parts[-1].append(t)
    return [p for p in parts if p]


def _paper_clause(claim: list[Tok], ev: Evidence, ev_toks: list[Tok]) -> str:
    """For a claim about the paper's method: the evidence clause holding the claim's predicate
    must be about the method too (its name, "we", a bare "it"), or about something the paper
    introduces itself, and not about earlier work."""
    own = ev.method_names | SELF_REFERENCE | SELF_STEMS
    subject = subject_of(claim)
    wanted = {t.key for t in claim[len(subject) :] if t.kind == "word"} - own
    parts = _clauses(ev_toks)
    if not wanted or not parts:
        return ""
    scores = [len({t.key for t in part} & wanted) for part in parts]
    at = max(range(len(parts)), key=lambda i: (scores[i], -i))
    if not scores[at]:
        return ""
    part = parts[at]
    first = next(i for i, t in enumerate(part) if t.key in wanted)
    # the region's nouns name who the clause is about; verbs and adverbs name nobody
    region = [t for t in part[:first] if not is_verb(t) and not t.text.endswith("ly")]
    if any(t.kind == "word" for t in region) or any(t.key in PRONOUNS for t in region):
        if is_self(region, ev.method_names) or {t.key for t in region} & OWN_WORK:
            return ""
        said = " ".join(t.text for t in part[: first + 1])
        named = {t.key for t in region if t.kind == "word"}
        made = introduced_at(ev.sentence)  # "we introduce X, which is shown to ..."
        if not PRIOR_RE.search(said) and (
            (made is not None and made < part[0].pos)
            or speaks_of_paper(ev.sentence, ev.method_names)
            or any(introduces(s, named) for s in ev.others)
        ):
            return ""  # something the paper introduces itself (its dataset, its critic ...)
        who = " ".join(t.text for t in region if t.kind == "word")
        return f"the source sentence says this of {who!r}, not of the paper's method"
    before = [t for p in parts[:at] for t in p]
    if is_self(before, ev.method_names) or speaks_of_paper(ev.sentence, ev.method_names):
        return ""
    nouns = [t for t in before if t.kind == "word" and not is_verb(t)]
    if PRIOR_RE.search(ev.sentence) or (nouns and not {t.key for t in nouns} & OWN_WORK):
        who = " ".join(t.text for t in nouns[:4]) or "earlier work"
        return f"the source sentence says this of {who!r}, not of the paper's method"
    return ""


def _background(ev: Evidence) -> bool:
    """The evidence sentence comes before the abstract first speaks of the paper ("Meta-training
    allows ..." ahead of "we propose meta-training with demonstration retrieval")."""
    for sentence in ev.others:
        if speaks_of_paper(sentence, ev.method_names):
            return False
        if sentence == ev.sentence:
            return True
    return False


def subject_issue(claim: list[Tok], ev: Evidence, ev_toks: list[Tok]) -> str:
    about = about_paper(claim, ev.method_names)
    if about and _background(ev):
        return "the source sentence is background (earlier work), not of the paper's method"
    if about and (reason := _paper_clause(claim, ev, ev_toks)):
        return reason
    subject = subject_of(claim)
    if not subject:
        return ""
    have = words_of(ev_toks) | words_of(tokens(ev.title))
    if ev.neighbours:
        have |= words_of(tokens(ev.neighbours[0]))  # "It ..." refers to the sentence before
    if about or is_self(subject, ev.method_names):
        have |= ev.method_names | SELF_REFERENCE | SELF_STEMS | _GENERIC_SUBJECT
    named = [t for t in subject if t.kind == "word"]
    missing = [t.key for t in named if t.key not in have]
    if missing and len(named) <= 4:  # a longer "subject" means the verb was not recognised
        return f"the subject {missing[0]!r} is not what the source sentence is about"
    return ""


def _opens_with_verb(part: Sequence[Tok]) -> bool:
    return bool(part) and (part[0].key in VERB_HEADS or part[0].text.endswith(("ing", "ed")))


def composition_issue(
    claim: list[Tok], ev: Evidence, ev_toks: list[Tok], generic: frozenset[str]
) -> str:
    near = words_of(ev_toks) | words_of(tokens(ev.title)) | ev.method_names | SELF_REFERENCE
    near |= SELF_STEMS | generic
    elsewhere = set().union(*(words_of(tokens(s)) for s in ev.others)) if ev.others else set()
    outside = {k for k in words_of(claim) if k not in near and (k in elsewhere or not ev.others)}
    if not outside:
        return ""
    for nb in ev.neighbours:  # one adjacent sentence may complete the claim
        if outside <= words_of(tokens(nb)):
            return ""
    about = about_paper(claim, ev.method_names)
    subject = {t.key for t in subject_of(claim) if t.kind == "word"} - generic
    clauses: list[list[Tok]] = [[]]
    for t in claim:
        if t.key in _CLAUSE_BREAK:
            clauses.append([])
        else:
            clauses[-1].append(t)
    for n, part in enumerate(clauses):
        missing = [t for t in part if t.kind in ("word", "num") and t.key in outside]
        factual = [
            t for t in missing if t.kind == "num" or (t.text[:1].isupper() and t is not part[0])
        ]
        if len(missing) < 2 and not factual:
            continue  # one paraphrase word that also occurs elsewhere proves nothing
        keys = [t.key for t in missing]
        # a phrase brought in (two words or more): its clause rests on the phrase's home
        # sentence, at most one of its other words not there; one name ("such as FLAN-T5")
        # may be added to a clause of the evidence
        rest = words_of(part) & (near | elsewhere) - subject - generic - SELF_STEMS
        rest = rest if len(missing) >= 2 else set()
        home = [
            s
            for s in ev.others
            if set(keys) <= (have := words_of(tokens(s))) and len(rest - have) <= 1
        ]
        if not home:
            return f"combines {keys[0]!r} from elsewhere with the source sentence"
        if about and all(
            PRIOR_RE.search(s) and not speaks_of_paper(s, ev.method_names) for s in home
        ):
            return f"{keys[0]!r} is said of earlier work, not of the paper's method"
        inherits = n and _opens_with_verb(part) and not about and subject
        if inherits and not any(subject & words_of(tokens(s)) for s in home):
            return f"{keys[0]!r} is said of something else than {sorted(subject)[0]!r}"
    return ""
