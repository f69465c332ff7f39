"""Evidence for a question: which abstract sentence answers it (:mod:`.scorer`), whether any
does, the span that answers (:mod:`.spans`), and the question's words and type (:mod:`.terms`).
"""

from __future__ import annotations

from assistant.evidence.scorer import (
    FEATURES,
    QUESTION_FEATURES,
    QUESTION_SIGNS,
    WEIGHTS_FILE,
    Candidate,
    Decision,
    Source,
    Weights,
    decide,
    load_weights,
    rank_sentences,
)
from assistant.evidence.spans import mark_span
from assistant.evidence.terms import (
    focus_terms,
    head_terms,
    lexical_coverage,
    mentions,
    question_kind,
    sub_questions,
)

__all__ = [
    "FEATURES",
    "QUESTION_FEATURES",
    "QUESTION_SIGNS",
    "WEIGHTS_FILE",
    "Candidate",
    "Decision",
    "Source",
    "Weights",
    "decide",
    "focus_terms",
    "head_terms",
    "lexical_coverage",
    "load_weights",
    "mark_span",
    "mentions",
    "question_kind",
    "rank_sentences",
    "sub_questions",
]
