"""Is a generated TL;DR a near-compression of one abstract sentence?

The judge passes a TL;DR whose words are supported across the abstract; a small model's
TL;DRs that are wrong are mostly built that way: a frame ("This paper provides an overview
of ..."), the title's words, and a clause of its own ("... which is a key aspect of the
Transformers"). The TL;DRs labelled good on the audit's dev split say what one sentence of the
abstract says, nearly word for word. So a generated TL;DR is shown only when one abstract
sentence (the title does not count: a title echo says nothing) holds at least
``MIN_COVERAGE`` of its content words, leaving out the frame ("this paper proposes a new
method") and the paper's own names (the opener "Cappy is ..."). Otherwise the extractive
TL;DR, verbatim, is shown.

Pure and deterministic; no embedder.
"""

from __future__ import annotations

from assistant.grounding.claims import method_names, tokens
from assistant.grounding.textnorm import split_sentences, stem, word_set

__all__ = ["MIN_COVERAGE", "compression_coverage", "compression_issue"]

# On the audit's dev TL;DRs no bad one reaches 0.8 (the highest: 0.78) and 14 of 22 good do.
MIN_COVERAGE = 0.8
# Words a TL;DR frames its sentence with: they say nothing a sentence must hold.
_FRAME = frozenset(
    stem(w)
    for w in word_set(
        """paper work study article propose proposes proposed present presents presented
        describe describes introduce introduces explore explores new novel method approach
        framework model technique system"""
    )
)


def _words(text: str) -> list[str]:
    return [t.key for t in tokens(text) if t.kind in ("word", "num")]


def compression_coverage(claim: str, title: str, abstract: str) -> tuple[float, str]:
    """(share of the claim's content words held by its best abstract sentence, that sentence);
    frame words and the paper's own names are left out of the claim first."""
    names = method_names(title, abstract)
    core = [w for w in _words(claim) if w not in _FRAME and w not in names]
    if not core:
        return 0.0, ""
    best, best_sentence = 0.0, ""
    for sentence in split_sentences(abstract):
        held = set(_words(sentence))
        share = sum(w in held for w in core) / len(core)
        if share > best:
            best, best_sentence = share, sentence
    return best, best_sentence


def compression_issue(claim: str, title: str, abstract: str) -> str:
    """Why ``claim`` is not a near-compression of one abstract sentence, or ""."""
    share, _ = compression_coverage(claim, title, abstract)
    if share >= MIN_COVERAGE:
        return ""
    return f"not a compression of one abstract sentence ({share:.2f} of its words in the best)"
