"""Verbatim evidence: the quote that best answers a query, and extractive TL;DRs (an abstract
sentence shortened by removing words, never adding any).

The fallback when no generated TL;DR passes the grounding check (assistant.tldr): pick the
sentence that states the paper's contribution, then drop openers, subordinate clauses and
trailing phrases until it fits the word limit. Every word of the result is in the abstract.
"""

from __future__ import annotations

import re

import numpy as np

from assistant.grounding.judge import coverage, scale
from assistant.grounding.textnorm import (
    content_words,
    entity_in_text,
    extract_numbers,
    find_urls,
    number_mentions,
    split_sentences,
    word_set,
)
from assistant.protocols import Embedder

_LEAD_RE = re.compile(
    r"^(?:in (?:this|our) (?:paper|work|study|survey|report)|to (?:this|that) end|for example"
    r"|to (?:address|tackle|overcome|solve|alleviate|bridge|mitigate|fill|remedy) [^,]{1,50}"
    r"|(?:motivated|inspired|driven) by [^,]{1,50}|addressing [^,]{1,50}"
    r"|furthermore|moreover|additionally|in addition|specifically|however|finally|overall"
    r"|therefore|thus|hence|then|first|second|third|besides|in particular|notably|concretely"
    r"|consequently|as a result|together|alternatively|meanwhile|in this way|for instance"
    r"|in summary|in short|in conclusion|to sum up|importantly|surprisingly|recently"
    r"|accordingly|practically),\s+",
    re.IGNORECASE,
)
_SUBORDINATE_RE = re.compile(
    r"^(?:with|by|to|in|on|for|using|unlike|given|while|although|albeit|as|after|through|via"
    r"|when|compared|based|despite|since|because|thanks|leveraging|under|beyond|from|inspired"
    r"|motivated|building|addressing)\b[^,]{1,200},\s+",
    re.IGNORECASE,
)
_SUBJECT_RE = re.compile(r"(?:we|our|this|these|the|a|an|it|its|they|their)\b|[A-Z]")
_TRAIL_RE = re.compile(
    r"(?:,\s+(?:which|while|where|whereas|thereby|thus|enabling|allowing|making|resulting|leading"
    r"|achieving|showing|demonstrating|outperforming|including|such as|especially|particularly"
    r"|focusing|e\.g\.|i\.e\.|as well as|(?:and|but) (?:we|it|they|our|this|thus))\b"
    r"|;\s|\s[-–—]{1,2}\s|:\s)"
)
_PHRASE_START = word_set(
    """for with to by using via in on that which where while and or from through across within
    into as at among between over under without whereas"""
)
_DANGLING = _PHRASE_START | word_set(
    "the a an of than both such is are was were be this these its their our whose when"
)
_SCALE_NEXT = word_set("million billion thousand trillion percent % times")


def _n_words(text: str) -> int:
    return len(text.split())


def _truncate(words: list[str], max_words: int) -> list[str]:
    """The first ``max_words`` words, cut back to a clause or phrase boundary if one is near."""
    nxt = words[max_words].lower().strip(",.;:")
    words = words[:max_words]
    if nxt in _SCALE_NEXT and len(words) > 1:
        words.pop()  # "360" without its "million" would misstate the number
    floor = max(1, max_words // 2)
    commas = [i + 1 for i, w in enumerate(words[:-1]) if w.endswith((",", ";")) and i + 1 >= floor]
    starts = [i for i, w in enumerate(words) if w.lower() in _PHRASE_START and i >= floor]
    if commas or starts:
        words = words[: max(commas + starts)]
    return words


def compress_sentence(sentence: str, max_words: int) -> str:
    """Shorten a verbatim sentence to at most ``max_words`` words, keeping only its own
    words in order: drop discourse openers ("In this paper,"), then, while too long,
    parentheticals, a leading subordinate clause, trailing clauses (", which ..."), and
    finally cut at a phrase boundary. Ends with a period; the first letter is capitalised."""
    text = " ".join(sentence.split()).rstrip(" .!?")
    while (shorter := _LEAD_RE.sub("", text, count=1)) != text:
        text = shorter
    while _n_words(text) > max_words and (shorter := re.sub(r"\s*\([^()]*\)", "", text)) != text:
        text = shorter
    lead = _SUBORDINATE_RE.match(text)
    rest = text[lead.end() :] if lead else ""
    if _n_words(text) > max_words and _SUBJECT_RE.match(rest) and _n_words(rest) >= 6:
        text = rest
    if _n_words(text) > max_words:
        cuts = [m.start() for m in _TRAIL_RE.finditer(text) if _n_words(text[: m.start()]) >= 6]
        fitting = [c for c in cuts if _n_words(text[:c]) <= max_words]
        if fitting or cuts:
            text = text[: max(fitting) if fitting else min(cuts)]
    words = text.split()
    if len(words) > max_words:
        words = _truncate(words, max_words)
    text = " ".join(words)
    if text.count("(") > text.count(")"):
        text = text[: text.rfind("(")]
    words = text.split()
    while len(words) > 1 and words[-1].lower().strip(",;:") in _DANGLING:
        words.pop()
    text = " ".join(words).rstrip(" ,;:-–—")
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")


_CONTRIBUTION_RE = re.compile(
    r"\b(?:we|this (?:paper|work|survey|study)|our (?:work|paper))\b[^.]{0,60}?"
    r"(?<!\bthe )(?<!\bour )\b(?:propos"
    r"|introduc|present|develop|contribut|design|build(?!s? (?:up)?on)|releas|construct|creat"
    r"|offer|appl(?:y|ies)|provid|explor|investigat|examin|analy[sz])",
    re.IGNORECASE,
)
_BACKGROUND_RE = re.compile(
    r"\b(?:ha(?:s|ve) (?:shown|emerged|attracted|been|become|gained|made)|recent(?:ly)?|existing"
    r"|however|current(?:ly)?|typically|traditional(?:ly)?|previous(?:ly)?|prior)\b",
    re.IGNORECASE,
)
_NAMING_RE = re.compile(r"\b(?:named|called|dubbed|termed)\s+[\"'`]*[A-Z]")
_WEAK_START_RE = re.compile(r"^(?:since|although|though|while|because|albeit|if|when)\b", re.I)


def pick_extractive_tldr(title: str, abstract: str, max_words: int) -> str:
    """The abstract sentence that best states the contribution ("we propose X", the title's
    method name, its key words), compressed to at most ``max_words`` words."""
    sentences = split_sentences(abstract)
    if not sentences:
        return ""
    head = title.split(":")[0].strip() if ":" in title else ""
    names = [head] if head and _n_words(head) <= 4 else []
    names += [w for w in re.findall(r"\S+", title) if re.search(r"[a-z][A-Z]|\d", w)]
    title_words = content_words(title)

    def rank(i: int) -> float:
        sentence = sentences[i]
        value = 3.0 if _CONTRIBUTION_RE.search(sentence) else 0.0
        value += 2.0 if any(entity_in_text(n.strip(":,"), sentence) for n in names) else 0.0
        value += 1.0 * coverage(title_words, content_words(sentence))
        value -= 1.0 if not value and _BACKGROUND_RE.search(sentence) else 0.0
        value += 1.0 if _NAMING_RE.search(sentence) else 0.0
        value -= 1.0 if _WEAK_START_RE.search(sentence) else 0.0
        value -= 0.02 * max(0, _n_words(sentence) - max_words) + 0.05 * i
        if find_urls(sentence) or "?" in sentence:
            value -= 3.0
        return value

    for i in sorted(range(len(sentences)), key=lambda i: (-rank(i), i)):
        tldr = compress_sentence(sentences[i], max_words)
        if _n_words(tldr) >= 5:
            return tldr
    return compress_sentence(sentences[0], max_words)


def best_quote(
    query: str,
    source: str,
    *,
    embedder: Embedder | None = None,
    max_words: int | None = None,
) -> str:
    """The verbatim sentence of ``source`` that best matches ``query`` (its numbers count
    most); with ``max_words``, the best-matching run of at most that many words of it."""
    sentences = split_sentences(source)
    if not sentences:
        return ""
    words = content_words(query)
    numbers = [m.key for m in number_mentions(query)]
    vecs = None
    if embedder is not None:
        vecs = np.asarray(embedder.embed([query, *sentences]), dtype=np.float32)

    def rank(i: int) -> float:
        sentence = sentences[i]
        found = extract_numbers(sentence)
        value = coverage(words, content_words(sentence)) + sum(2.0 for n in numbers if n in found)
        return value + (scale(float(vecs[i + 1] @ vecs[0])) if vecs is not None else 0.0)

    best = sentences[max(range(len(sentences)), key=lambda i: (rank(i), -i))]
    spans = [m.span() for m in re.finditer(r"\S+", best)]
    if max_words is None or len(spans) <= max_words:
        return best

    def window(start: int) -> float:
        piece = best[spans[start][0] : spans[start + max_words - 1][1]]
        found = extract_numbers(piece)
        return coverage(words, content_words(piece)) + sum(2.0 for n in numbers if n in found)

    start = max(range(len(spans) - max_words + 1), key=lambda s: (window(s), -s))
    return best[spans[start][0] : spans[start + max_words - 1][1]]
