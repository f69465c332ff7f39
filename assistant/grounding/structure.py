"""Structure checks: does a claim say what its evidence sentence says, not just share its words?

Word overlap passes sentences made only of a source's own words but false (FACTS.md, "What the
judge misses"). These checks compare a claim with the one evidence sentence the judge chose
(plus the title and the sentences next to it) token by token, and name what changed:

* **polarity**: a negation added, or one dropped while the negated words are kept;
* **scope**: a quantifier ("all", "every", "always", "only") the evidence does not use;
* **numbers**: each number must count what it counts in the evidence (the words after it, or
  before it when nothing follows); a value given "respectively" must not stand alone;
* **order**: content words that moved across a relation ("A outperforms B" -> "B outperforms
  A"), unless a whole clause moved or the voice changed (passive "is outperformed by");
* **subject**: the claim's subject must be what the evidence sentence is about; the paper's
  own method ("Cappy", "the proposed method") is bound to sentences that speak of it ("we",
  "our", its name), never to a baseline's or prior work's properties;
* **composition**: the claim's words must come from that sentence, the title and at most one
  adjacent sentence, not gathered from across the abstract;
* **vacuity**: unfinished stubs ("... are:"), tautologies ("X is X"), title echoes.

Pure and deterministic; each check returns the reason a claim fails, or "".
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence

from assistant.grounding.binding import composition_issue, subject_issue
from assistant.grounding.claims import (
    AUX,
    NEGATORS,
    PASSIVE_RE,
    QUANTIFIERS,
    RELATIONS,
    SELF_STEMS,
    SPLIT_CLAUSE,
    VERB_HEADS,
    Evidence,
    Tok,
    is_verb,
    subject_of,
    tokens,
    words_of,
)
from assistant.grounding.textnorm import stem, word_set

__all__ = ["Evidence", "Tok", "structure_issue", "tokens", "vacuity_issue"]


_NOT_ONLY = word_set("only just merely solely")


def _negated(ev: list[Tok], i: int) -> list[str]:
    """Content words in the scope of the negator at ``i``: up to the clause's end ("does not
    need to learn one embedding per item)"), or, for a closing "or not)", the words before."""
    scope: list[str] = []
    for t in ev[i + 1 : i + 8]:
        if t.kind == "punct":
            break
        if t.kind in ("word", "num"):
            scope.append(t.key)
    if not scope and ev[i - 1 : i] and ev[i - 1].key == "or":
        scope = [t.key for t in ev[max(0, i - 4) : i] if t.kind == "word"][-2:]
    return scope


def _polarity(claim: list[Tok], ev: list[Tok]) -> str:
    c_neg = [t.key for t in claim if t.key in NEGATORS]
    e_neg = [t.key for t in ev if t.key in NEGATORS]
    if len(c_neg) > len(e_neg):
        return f"adds the negation {c_neg[0]!r} to the source sentence"
    c_words = words_of(claim)
    for i, t in enumerate(ev):
        if t.key not in NEGATORS or e_neg.count(t.key) <= c_neg.count(t.key):
            continue
        if ev[i + 1 : i + 2] and ev[i + 1].key in _NOT_ONLY:
            continue  # "not only A but also B" says A
        after = [x.key for x in ev[i + 1 : i + 4] if x.kind == "word"]
        if after and after[0] in c_words:
            return f"drops the source's {t.key!r}"
        scope = _negated(ev, i)
        kept = [k for k in scope if k in c_words]
        if len(kept) >= 2 and len(kept) >= len(scope) - 1:
            return f"states without the source's {t.key!r} what it negates"
    return ""


def _scope(claim: list[Tok], ev: list[Tok]) -> str:
    have = {t.key for t in ev}
    extra = [t.key for t in claim if t.key in QUANTIFIERS and t.key not in have]
    return f"quantifier {extra[0]!r} is not in the source sentence" if extra else ""


def _attached(toks: Sequence[Tok], i: int) -> tuple[list[str], list[str]]:
    """Content words right after and right before number ``i``, up to a boundary."""
    after: list[str] = []
    for t in toks[i + 1 : i + 3]:
        if t.kind in ("punct", "num") or (t.kind == "stop" and after):
            break
        if t.kind == "word" and (t.key in VERB_HEADS and after):
            break
        if t.kind == "word":
            after.append(t.key)
    before: list[str] = []
    for t in reversed(toks[max(0, i - 3) : i]):
        if t.kind in ("punct", "num"):
            break
        if t.kind == "word":
            before.append(t.key)
    return after, before


def _counted(toks: Sequence[Tok]) -> Counter[str]:
    return Counter(t.key for t in toks if t.kind == "num")


def _numbers(
    claim: list[Tok], ev: list[Tok], sentence: str, others: Sequence[list[Tok]] = ()
) -> str:
    c_count, e_count = _counted(claim), _counted(ev)
    for key, n in c_count.items():
        if 0 < e_count[key] < n:
            return f"number {key} is used {n} times; the source sentence gives it once"
    ev_nums = [i for i, t in enumerate(ev) if t.kind == "num"]
    for i, t in enumerate(claim):
        if t.kind != "num":
            continue
        same = [j for j in ev_nums if ev[j].key == t.key]
        if not same:
            continue  # another sentence's number: the composition check decides
        c_after, _ = _attached(claim, i)
        if not c_after:
            continue  # nothing counted after it: too little structure to judge
        head = c_after[-1]  # the noun the number counts ("3.5K instructional videos")
        found = [_attached(ev, j) for j in same] + [
            _attached(o, j) for o in others for j, x in enumerate(o) if x.key == t.key
        ]
        if all(not a and not b for a, b in found):
            continue  # "(7-8B)": the source attaches it to nothing either
        if not any(head in a + b for a, b in found):
            return f"number {t.key} counts {head!r} in the claim but not in the source"
    if re.search(r"\brespectively\b", sentence, re.I) and "respectively" not in {
        x.key for x in claim
    }:
        e_keys = [ev[j].key for j in ev_nums]
        c_keys = {t.key for t in claim if t.kind == "num"}
        kept = [k for k in e_keys if k in c_keys]
        if kept and len(kept) < len(set(e_keys)):
            return f"gives {kept[0]} alone where the source lists values 'respectively'"
    return ""


def _order(claim: list[Tok], ev: list[Tok], claim_text: str, sentence: str) -> str:
    """Arguments swapped around a relation: some shared word moved from before a shared pivot
    (a verb or "than", "by", "from", "to" ...) to after it, and another the other way."""
    c = [t for t in claim if t.kind != "punct"]
    clause, e_clause = 0, []
    for t in ev:
        if t.key in SPLIT_CLAUSE:
            clause += 1
        elif t.kind != "punct":
            e_clause.append(clause)
    e = [t for t in ev if t.kind != "punct" and t.key not in SPLIT_CLAUSE]
    c_keys, e_keys = _numbered(c), _numbered(e)
    if _clauses_reordered([t for t in c if t.kind in ("word", "num")], ev):
        return ""
    if bool(PASSIVE_RE.search(claim_text)) != bool(PASSIVE_RE.search(sentence)):
        return ""  # a change of voice swaps the sides on purpose
    c_at = {k: i for i, k in enumerate(c_keys)}
    e_at = {k: i for i, k in enumerate(e_keys)}
    shared = [
        k
        for k in c_keys
        if k in e_at
        and c[c_at[k]].kind in ("word", "num")
        and not is_verb(c[c_at[k]])  # "alignment" is an argument, "aligns" a relation
        and not c[c_at[k]].text.endswith("ly")  # adverbs move freely
    ]
    pivots = [
        k
        for k in c_keys
        if k in e_at and (is_verb(c[c_at[k]]) or k[0] in RELATIONS) and c_keys.count(k) == 1
    ]
    for pivot in pivots:
        cp, ep = c_at[pivot], e_at[pivot]
        to_right = [k for k in shared if k != pivot and e_at[k] < ep and c_at[k] > cp]
        to_left = [k for k in shared if k != pivot and e_at[k] > ep and c_at[k] < cp]
        # only words of the pivot's own clause count as its arguments
        to_right = [k for k in to_right if e_clause[e_at[k]] == e_clause[ep]]
        to_left = [k for k in to_left if e_clause[e_at[k]] == e_clause[ep]]
        if to_right and to_left:
            return (
                f"{to_left[0][0]!r} and {to_right[0][0]!r} have swapped places around "
                f"{pivot[0]!r} compared with the source sentence"
            )
    return ""


def _numbered(toks: Sequence[Tok]) -> list[tuple[str, int]]:
    """Keys with their occurrence number, so a repeated word keeps its place."""
    seen: Counter[str] = Counter()
    out = []
    for t in toks:
        out.append((t.key, seen[t.key]))
        seen[t.key] += 1
    return out


def _clauses_reordered(claim_words: list[Tok], ev: list[Tok]) -> bool:
    """The claim's words are the evidence's clauses (split at , ; :) in another order."""
    parts: list[list[str]] = [[]]
    for t in ev:
        if t.kind == "punct" and t.key in ",;:":
            parts.append([])
        elif t.kind in ("word", "num"):
            parts[-1].append(t.key)
    parts = [p for p in parts if p]
    if not 2 <= len(parts) <= 5:
        return False
    want = [t.key for t in claim_words]
    return any(sum(order, []) == want for order in itertools.permutations(parts))


def _is_deletion(claim: list[Tok], ev: list[Tok]) -> bool:
    """The claim's words are a subsequence of the evidence's (a compression)."""
    it = iter(t.key for t in ev if t.kind in ("word", "num"))
    return all(k in it for k in (t.key for t in claim if t.kind in ("word", "num")))


# Words a sentence can add to a title without saying anything more ("This paper proposes a new
# framework for <title>").
TITLE_FILLER = frozenset(
    stem(w)
    for w in word_set(
        """paper new novel propose proposed present describe describes introduce report method
        approach framework model system technique type based design designed leverage enhance
        enable improve performance aim use using effective efficient help allow support
        study work called named"""
    )
)


_FRAME = SELF_STEMS | {"paper", "work"}


def vacuity_issue(claim: str, title: str = "", evidence: str = "") -> str:
    """Why ``claim`` says nothing, or "". A claim that copies its ``evidence`` sentence (words
    only removed, "we" as "the authors") says what the abstract says, title or not."""
    text = claim.strip()
    if re.search(r"(?::|\b\w+-)\s*$", text):
        return "unfinished: ends with ':' or a cut-off word"
    toks = tokens(text)
    keys = [t.key for t in toks if t.kind in ("word", "num")]
    trigrams = list(zip(keys, keys[1:], keys[2:], strict=False))
    if len(trigrams) != len(set(trigrams)):
        return "says nothing: it repeats itself"
    copula = next((i for i, t in enumerate(toks) if i and t.key in AUX), None)
    for cut in (copula, len(subject_of(toks)) or None):
        if cut is None:
            continue
        head, rest = words_of(toks[:cut]), words_of(toks[cut:]) - {"itself", "themselv"}
        if head and rest <= head:
            return "says nothing: the sentence repeats its subject"
    if title:
        words = words_of(toks) - {"about", "titl"}
        title_words = words_of(tokens(title))
        if words and words <= title_words:
            return "says nothing beyond the paper's title"
        copied = bool(evidence) and _is_deletion(
            [t for t in toks if t.key not in _FRAME], tokens(evidence)
        )
        extra = words - title_words - TITLE_FILLER
        if len(words) >= 3 and len(extra) <= 1 and not copied:
            return "says little beyond the paper's title"
        predicate = words_of(toks[len(subject_of(toks)) :]) - {stem("called"), stem("named")}
        if subject_of(toks) and predicate and predicate <= title_words and not copied:
            return "its predicate only restates the paper's title"
    return ""


def structure_issue(claim: str, ev: Evidence, *, generic: frozenset[str] = frozenset()) -> str:
    """The first structural reason ``claim`` is not what ``ev.sentence`` says, or ""."""
    c, e = tokens(claim), tokens(ev.sentence)
    checks: list[Callable[[], str]] = [
        lambda: _polarity(c, e),
        lambda: _scope(c, e),
        lambda: _numbers(c, e, ev.sentence, [tokens(s) for s in ev.others]),
        lambda: _order(c, e, claim, ev.sentence),
    ]
    if not _is_deletion(c, e):  # words only removed: same subject, same sentence
        checks += [lambda: subject_issue(c, ev, e), lambda: composition_issue(c, ev, e, generic)]
    for check in checks:
        if reason := check():
            return reason
    return ""
