"""Grounding: is every shown sentence supported by the source it cites?

One package for the answerer, the TL;DR writer, `assistant check` and the evals. The judge
(:mod:`.judge`) scores a claim against sources; :mod:`.textnorm` holds the text rules it is
built on (sentences, numbers, entities), :mod:`.rules` the claim-vs-evidence rules (negation,
comparisons, substituted facts), :mod:`.safe_text` the markup and URL safety helpers, and
:mod:`.extractive` the verbatim fallback TL;DR. Pure functions; the embedder is passed in.
"""

from __future__ import annotations

from assistant.grounding.judge import (
    DEFAULT_THRESHOLD,
    CachingEmbedder,
    SentenceVerdict,
    Support,
    best_quote,
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
