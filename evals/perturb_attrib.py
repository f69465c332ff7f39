"""Rules for claims about the wrong actor: baseline_as_method, clause_graft, misattribution.

Each returns Drafts made only of the source's own words (misattribution: also the cited
paper's); :func:`evals.perturb.generate` validates every draft before use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from evals.perturb_info import (
    Draft,
    PaperInfo,
    Rule,
    agrees,
    clause,
    clause_end,
    content_words,
    head_word,
    is_own,
)
from evals.perturb_text import (
    PRONOUNS,
    SINGULAR_OF,
    THIRD_OF,
    balanced,
    cap,
    core,
    decap,
    is_adverb,
    join,
    number_core,
    trailing_punct,
    verb_number,
    wordset,
)

# --- baseline_as_method --------------------------------------------------------------------------

_BASELINE = re.compile(
    r"\b(?:[Ee]xisting|[Pp]revious|[Pp]rior|[Tt]raditional|[Cc]onventional|[Cc]urrent|[Ss]tandard|"
    r"[Ee]arlier|[Tt]hese|[Mm]ost|[Rr]ecent)\s+(?:[\w-]+\s+){0,4}?(?:methods|approaches|works|"
    r"models|LLMs|techniques|systems|frameworks|baselines|studies|algorithms|solutions|"
    r"predictors|strategies|datasets|benchmarks|research)\b(?:\s*\([^()]*\))?"
)
_NAMED = re.compile(r"^(?:However|Moreover|Unfortunately|Yet), ([A-Z][a-z]+[A-Z][\w-]*) ")


def _predicate(toks: list[str], k: int) -> list[str] | None:
    """The verb phrase starting at token ``k`` up to the end of its clause."""
    if k < len(toks) and toks[k - 1].endswith(",") and not toks[k - 2].endswith(")"):
        while k < len(toks) and not toks[k].endswith(","):
            k += 1  # skip an aside: "these LLMs, with sizes ranging ..., demand"
        k += 1
    start = k
    while k < len(toks) and is_adverb(toks[k]):
        k += 1
    if k >= len(toks) or verb_number(toks[k]) is None:
        return None
    pred = clause_end(toks[start:])
    if (
        len(pred) < 3
        or not balanced(pred)
        or any(core(t) in {"we", "our", "us", "ours"} for t in pred)
    ):
        return None
    return pred


def baseline_as_method(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    for idx in info.usable:
        s = info.sentences[idx]
        spans = [(m.start(), m.end()) for m in _BASELINE.finditer(s)]
        named = _NAMED.match(s)
        if named and (not info.name or named.group(1).lower() != info.name.lower()):
            spans.append(named.span(1))
        for a, b in spans:
            np = s[a:b]
            if is_own(info, np) and not np.lower().startswith(("these", "most")):
                continue
            toks = s.split()
            k = len(s[:b].split())
            pred = _predicate(toks, k)
            if pred is None:
                continue
            v = next(i for i, t in enumerate(pred) if not is_adverb(t))
            verb, punct = trailing_punct(pred[v])
            if verb_number(verb) == "pl":
                sg = SINGULAR_OF.get(verb.lower())
                if sg is None or sg not in info.vocab:
                    subject = f"{info.own} and {decap(np, info.abstract)}"
                else:
                    subject, pred = info.own, [*pred[:v], sg + punct, *pred[v + 1 :]]
            else:
                subject = info.own
            claim = join([cap(subject), *pred]) + "."
            out.append(Draft(s, claim, f"what '{np}' does restated of '{info.own}'"))
    return out


# --- clause_graft --------------------------------------------------------------------------------

_REPORTING = wordset(
    "show shows demonstrate demonstrates suggest suggests indicate indicates reveal reveals "
    "highlight highlights confirm confirms"
)
_BACK_REF = wordset("they them their these those it its former latter")


def _stems(text: str) -> set[str]:
    return {w.rstrip("s") for w in content_words(text)}


_GENERIC_HEADS = wordset(
    "results experiments evaluations studies analysis analyses experiment evaluation"
)


def clause_graft(info: PaperInfo, _pool: Sequence[PaperInfo]) -> list[Draft]:
    clauses = [c for i in info.usable if (c := clause(i, info.sentences[i]))]
    clauses = [c for c in clauses if head_word(c.subject) not in _GENERIC_HEADS]
    out: list[Draft] = []
    for ci in clauses:
        for cj in clauses:
            if abs(ci.index - cj.index) < 2 or core(cj.predicate[0]) in _REPORTING:
                continue
            si, sj = ci.subject, cj.subject
            if si.lower() in sj.lower() or sj.lower() in si.lower():
                continue
            if (is_own(info, si) and is_own(info, sj)) or core(sj.split()[0]) in PRONOUNS:
                continue
            firsts = {core(si.split()[0]), core(sj.split()[0])}
            if (is_own(info, si) or is_own(info, sj)) and "the" in firsts:
                continue  # "the gating network" may be a part of the method itself
            if core(si.split()[0]) in PRONOUNS or not agrees(si, cj.number):
                continue
            if _stems(si) & _stems(sj) or any(core(t) in _BACK_REF for t in cj.predicate):
                continue  # near-synonymous subjects; "they"/"its" would point elsewhere
            number_i = ci.number if ci.number != "any" else cj.number
            if number_i != "any" and cj.number != "any" and number_i != cj.number:
                continue
            claim = join([si, *cj.predicate]) + "."
            detail = f"subject of sentence {ci.index + 1} + predicate of sentence {cj.index + 1}"
            out.append(Draft(info.sentences[ci.index], claim, detail))
    return out


# --- misattribution ------------------------------------------------------------------------------


def _closest(info: PaperInfo, pool: Sequence[PaperInfo], text: str) -> PaperInfo | None:
    """The other paper (same split) whose title shares the most words with ``text``."""
    mine = content_words(text)
    best: tuple[int, str, PaperInfo] | None = None
    for q in pool:
        if q.paper_id == info.paper_id or q.split != info.split:
            continue
        score = len(mine & content_words(q.title))
        tie = hashlib.sha256(f"{info.paper_id}|{q.paper_id}".encode()).hexdigest()
        if score and (best is None or (-score, tie) < (-best[0], best[1])):
            best = (score, tie, q)
    return best[2] if best else None


def misattribution(info: PaperInfo, pool: Sequence[PaperInfo]) -> list[Draft]:
    out: list[Draft] = []
    named = [q for q in pool if q.name]
    for idx in info.usable:
        s = info.sentences[idx]
        toks = s.split()
        first = core(toks[0])
        mentions = bool(info.name and re.search(rf"\b{re.escape(info.name)}\b", s))
        if not (mentions or first in {"we", "our"} or any(number_core(t) for t in toks)):
            continue
        q = _closest(info, pool, s)
        if q:
            detail = f"a true sentence of this paper cited to '{q.title}'"
            out.append(Draft(s, s, detail, q.paper_id))
        q = _closest(info, named, s)
        if q is None or q.name is None:
            continue
        if mentions and info.name:
            claim = re.sub(rf"\b{re.escape(info.name)}\b", q.name, s)
        elif first == "our" and len(toks) > 2 and verb_number(toks[2]) == "sg":
            claim = join([q.name, *toks[2:]])
        elif first == "we" and toks[1] in THIRD_OF and THIRD_OF[toks[1]] in info.vocab | q.vocab:
            claim = join([q.name, THIRD_OF[toks[1]], *toks[2:]])
        else:
            continue
        detail = f"the method renamed '{q.name}' and cited to '{q.title}'"
        out.append(Draft(s, claim, detail, q.paper_id))
    return out


ATTRIBUTION_RULES: dict[str, Rule] = {
    "baseline_as_method": baseline_as_method,
    "clause_graft": clause_graft,
    "misattribution": misattribution,
}
