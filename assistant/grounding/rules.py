"""Rules that compare a claim with its evidence: negation, comparisons, substituted facts.

Gates of :mod:`.judge`, each returning what it found so a verdict can be explained
("comparison 'faster' not in source"). Pure, deterministic and stdlib-only, like
:mod:`assistant.grounding.textnorm` whose helpers they use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.grounding.textnorm import (
    CAP_STOPWORDS,
    STOPWORDS,
    content_words,
    entity_in_text,
    extract_numbers,
    stem,
    strip_citations,
)

__all__ = ["NEGATION_RE", "polarity_conflict", "swapped_fact", "unsupported_comparisons"]


NEGATION_RE = re.compile(
    r"\b(?:not|no|never|cannot|without|neither|nor|unable|fail(?:s|ed)?|lack(?:s|ing)?"
    r"|struggles?)\b|n't\b",
    re.IGNORECASE,
)
_SOFT_NEGATION_RE = re.compile(
    r"\b(?:avoid\w*|eliminat\w*|free|bypass\w*|remov\w*|instead|rather|prevent\w*|absen\w*)\b",
    re.IGNORECASE,
)
_NOT_ONLY = frozenset({"only", "just", "merely"})
_COMPARISON_WORDS = {
    "up": "better best higher highest stronger strongest superior top outperform surpass exceed "
    "beat",
    "down": "worse worst lower lowest weaker weakest inferior underperform lag degrad",
    "big": "larger largest bigger biggest",
    "small": "smaller smallest tinier",
    "fast": "faster fastest quicker",
    "slow": "slower slowest",
    "few": "fewer",
    "long": "longer longest",
    "short": "shorter shortest",
    "easy": "simpler simplest easier easiest",
    "hard": "harder hardest",
    "cheap": "cheaper cheapest",
    "first": "first",
    # absolute or evaluative words a model likes to add: they need the source's backing too
    "perfect": "perfect perfectly flawless flawlessly",
    "always": "always invariably",
    "easily": "easily effortlessly trivially ease",
    "guarantee": "guarantee guarantees guaranteed provably",
    "dramatic": "dramatically drastically massively hugely",
}
_COMPARISON = {w: g for g, ws in _COMPARISON_WORDS.items() for w in ws.split()}


def _comparison_group(word: str) -> str | None:
    return _COMPARISON.get(word) or _COMPARISON.get(stem(word))


def unsupported_comparisons(claim: str, sources: Sequence[str]) -> list[str]:
    """Comparative, superlative or absolute words of ``claim`` ("slower", "first", "beats",
    "perfectly") whose kind no source uses ("beats" is fine when a source says "outperforms")."""
    said = {_comparison_group(w) for s in sources for w in re.findall(r"[a-z]+", s.lower())} - {
        None
    }
    return [
        w
        for w in dict.fromkeys(re.findall(r"[a-z]+", claim.lower()))
        if (g := _comparison_group(w)) is not None and g not in said
    ]


def polarity_conflict(claim: str, evidence: Sequence[str]) -> str:
    """A negation in ``claim`` that the evidence lacks, or a claim stating positively what the
    evidence only mentions right after a negation ("without requiring finetuning")."""
    if NEGATION_RE.search(claim):
        text = " ".join(evidence)
        ok = NEGATION_RE.search(text) or _SOFT_NEGATION_RE.search(text)
        return "" if ok else "negation not in source"
    if _SOFT_NEGATION_RE.search(claim):
        return ""
    negated: dict[str, None] = {}  # in reading order, for the explanation
    plain: set[str] = set()
    for sentence in evidence:
        scope = 0
        found = re.findall(r"[A-Za-z0-9']+|[.,;:()]", sentence)
        for at, token in enumerate(found):
            negator = NEGATION_RE.fullmatch(token) or token.lower().endswith("n't")
            if negator and found[at + 1 : at + 2] and found[at + 1].lower() in _NOT_ONLY:
                continue  # "not only A but also B" says A
            if negator:
                scope = 2
            elif token in ".,;:()":
                scope = 0
            else:
                for word in content_words(token):
                    if scope > 0:
                        negated[word] = None
                    else:
                        plain.add(word)
                    scope = max(0, scope - 1)
    claimed = content_words(claim)
    flipped = [w for w in negated if w not in plain and w in claimed]
    return f"source negates {flipped[0]!r}" if flipped else ""


_FACT_TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*%?")


def _is_fact(token: str, position: int) -> bool:
    if any(c.isdigit() for c in token):
        return True
    upper = any(c.isupper() for c in token[1:]) or (token[0].isupper() and position > 0)
    return upper and token.lower() not in CAP_STOPWORDS


def swapped_fact(claim: str, sentence: str) -> str:
    """ "X replaces Y" when ``claim`` copies a context from ``sentence`` but puts a different
    number or name in it ("tasks from BIG-Bench" where the sentence says "tasks from
    PromptSource"); "" otherwise."""
    ctoks = _FACT_TOKEN_RE.findall(strip_citations(claim))
    stoks = _FACT_TOKEN_RE.findall(strip_citations(sentence))
    low = [t.lower() for t in stoks]
    sentence_numbers = extract_numbers(sentence)
    for i, token in enumerate(ctoks):
        if not _is_fact(token, i) or entity_in_text(token, sentence):
            continue
        if extract_numbers(token) & sentence_numbers:
            continue
        for lo, hi, offset in ((i - 2, i, 2), (i + 1, i + 3, -1)):
            context = [t.lower() for t in ctoks[max(lo, 0) : hi]]
            if len(context) < 2 or all(c in STOPWORDS for c in context):
                continue
            for j in range(len(low) - 1):
                k = j + offset  # where the fact sits relative to the matched context
                if (
                    low[j : j + 2] == context
                    and 0 <= k < len(stoks)
                    and _is_fact(stoks[k], k)
                    and stoks[k].lower() != token.lower()
                ):
                    return f"{token} replaces {stoks[k]}"
    return ""
