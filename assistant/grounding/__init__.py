"""Grounding: is every shown sentence supported by the source it cites?

One package for the answerer, the TL;DR writer, `assistant check` and the evals. The judge
(:mod:`.judge`) scores a claim against sources: word support and hard gates (:mod:`.rules`:
negation, comparisons, substituted facts), then the structure checks of :mod:`.structure`
(polarity, scope, numbers and what they count, argument order, vacuity) and :mod:`.binding`
(the claim's subject and where its words come from), built on :mod:`.claims` (tokens,
subjects, the paper's own names) and :mod:`.textnorm` (sentences, numbers, entities).
:mod:`.safe_text` keeps markup and URLs out; :mod:`.extractive` picks verbatim quotes and the
extractive TL;DR. Pure, deterministic functions; the embedder is passed in.
"""

from __future__ import annotations

from assistant.grounding.extractive import best_quote
from assistant.grounding.judge import (
    DEFAULT_THRESHOLD,
    CachingEmbedder,
    SentenceVerdict,
    Support,
    check_sentences,
    content_words,
    extract_entities,
    extract_numbers,
    has_external_url,
    score_support,
    split_sentences,
    strip_unsafe,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "CachingEmbedder",
    "SentenceVerdict",
    "Support",
    "best_quote",
    "check_sentences",
    "content_words",
    "extract_entities",
    "extract_numbers",
    "has_external_url",
    "score_support",
    "split_sentences",
    "strip_unsafe",
]
