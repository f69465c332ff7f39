"""One-line TL;DRs: generate candidates, gate them on faithfulness, else fall back to extractive.

Each prompt holds exactly one abstract, so a poisoned neighbour cannot change another paper's
TL;DR. A candidate is kept only if it is one sentence, within the word limit, not a copy of the
title, passes the grounding check (every number and entity in the abstract, support over the
threshold) and is a near-compression of one abstract sentence (:mod:`.grounding.compression`).
When no candidate passes, a sentence of the abstract is compressed instead.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Sequence

from assistant import grounding, prompting
from assistant.config import TldrConfig
from assistant.context import clip_words
from assistant.grounding import extractive
from assistant.grounding.compression import compression_issue
from assistant.injection import sanitize_source
from assistant.protocols import ChatModel, Embedder, Message
from assistant.types import Paper, Tldr

# Only the first sentence of an output is used (clean_candidate), so generation stops where a
# second sentence starts (". " then a capital) instead of running on to max_tokens.
SENTENCE_STOPS = ("\n", *(f". {c}" for c in string.ascii_uppercase))

_LEAD = re.compile(r"^\s*(?:tl;?dr|summary|one[- ]sentence summary)\s*[:\-–]\s*", re.I)


# Sentences that state a paper's own contribution (a TL;DR's subject); background is skipped.
_CONTRIBUTION = re.compile(
    r"\b(?:we|our|this (?:paper|work|study)|here)\b|\b(?:propose|introduce|present)", re.I
)


def lead_sentences(abstract: str, llm: ChatModel, budget: int) -> str:
    """The abstract shortened to about ``budget`` tokens for the model to read.

    Prefill dominates a TL;DR's cost on a CPU, and the contribution is stated early: keep the
    first sentence and then, in order, the sentences that say what the paper does, then the
    rest, while they fit. The grounding gate still judges against the whole abstract.
    """
    sentences = grounding.split_sentences(abstract)
    if llm.count_tokens(abstract) <= budget or len(sentences) <= 1:
        return abstract
    order = [0] + [i for i in range(1, len(sentences)) if _CONTRIBUTION.search(sentences[i])]
    order += [i for i in range(1, len(sentences)) if i not in order]
    keep: list[int] = []
    used = 0
    for i in order:
        cost = llm.count_tokens(sentences[i]) + 1
        if keep and used + cost > budget:
            continue
        keep.append(i)
        used += cost
    return " ".join(sentences[i] for i in sorted(keep))


def paper_name(title: str) -> str:
    """The one-word name a title leads with ("Cappy: Outperforming ..." -> "Cappy"), or ''."""
    lead, sep, _ = title.partition(":")
    lead = lead.strip()
    return lead if sep and len(lead.split()) == 1 and len(lead) >= 2 else ""


def tldr_messages(
    paper: Paper, llm: ChatModel, max_tokens: int, source_tokens: int | None = None
) -> list[Message]:
    abstract = paper.abstract
    if source_tokens is not None:
        abstract = lead_sentences(abstract, llm, source_tokens)
    name = paper_name(paper.title)
    messages = prompting.split_system_user("tldr", title=paper.title, abstract=abstract, lead=name)
    # Very long abstracts are cut at a sentence boundary so prompt + answer fit in n_ctx.
    sentences = grounding.split_sentences(abstract)
    while llm.prompt_tokens(messages) + max_tokens > llm.n_ctx and len(sentences) > 1:
        sentences = sentences[: max(1, len(sentences) * 3 // 4)]
        messages = prompting.split_system_user(
            "tldr", title=paper.title, abstract=" ".join(sentences), lead=name
        )
    # One enormous sentence or title is clipped by the overflow: the abstract first, then the
    # title, so the prompt always leaves max_tokens free.
    title, text = paper.title, " ".join(sentences)
    over = llm.prompt_tokens(messages) + max_tokens - llm.n_ctx
    while over > 0 and (text or title):
        if text:
            text = clip_words(text, llm, max(0, llm.count_tokens(text) - over))
        else:
            title = clip_words(title, llm, max(0, llm.count_tokens(title) - over))
        messages = prompting.split_system_user("tldr", title=title, abstract=text, lead=name)
        over = llm.prompt_tokens(messages) + max_tokens - llm.n_ctx
    return messages


def clean_candidate(text: str, title: str) -> str:
    text = grounding.strip_unsafe(text).strip().strip('"').strip()
    text = _LEAD.sub("", text)
    if text.lower().startswith(title.lower()):
        text = text[len(title) :].lstrip(" :.-–")
    sentences = grounding.split_sentences(text)
    return sentences[0].strip() if sentences else ""


def continue_opener(opener: str, text: str) -> str:
    """The reply as the model wrote it after the ``opener`` it was asked to continue.

    A continuation starts with a space or punctuation (" proposes ...", ", a ..."); a reply that
    starts afresh (a model ignoring the opener) is taken as the whole reply.
    """
    if not opener or text.lower().startswith(opener.lower()):
        return text
    if text[:1].isspace() or text[:1] in ",;:-–'’":
        return opener + text
    return text


def judge_source(paper: Paper) -> str:
    """The text a TL;DR is judged against: the title and the (sanitised) abstract."""
    return f"{paper.title}\n{paper.abstract}"


def clean_paper(paper: Paper) -> Paper:
    """The paper as the model and the judge see it: planted instructions dropped."""
    return paper.model_copy(update={"abstract": sanitize_source(paper.abstract) or paper.title})


def judge_candidate(
    candidate: str, paper: Paper, cfg: TldrConfig, embedder: Embedder | None
) -> tuple[bool, float, str]:
    """(passes, support, reason) for one candidate sentence."""
    words = len(candidate.split())
    if words < 4:
        return False, 0.0, "too short"
    if words > cfg.max_words:
        return False, 0.0, f"{words} words > {cfg.max_words}"
    if candidate.rstrip(".").lower() == paper.title.lower():
        return False, 0.0, "repeats the title"
    if len(grounding.split_sentences(candidate)) != 1:
        return False, 0.0, "not one sentence"
    support = grounding.score_support(
        candidate, [judge_source(paper)], embedder=embedder, threshold=cfg.threshold
    )
    if support.supported and (issue := compression_issue(candidate, paper.title, paper.abstract)):
        return False, support.score, issue
    return support.supported, support.score, support.reason


_ASIDE = re.compile(r"\s*\(([^()]*)\)")


def drop_invented_asides(candidate: str, paper: Paper) -> str:
    """``candidate`` without parenthetical asides whose text the abstract does not contain.

    The small model likes to coin an acronym for what it summarises ("... incremental learning
    (MCLI) ..."); the gate then rejects an otherwise faithful sentence for an invented entity
    and a retry costs a model call. Deleting the aside only removes words, and the result is
    judged again like any candidate, so nothing unverified gets through.
    """
    source = judge_source(paper).lower()

    def keep_if_sourced(m: re.Match[str]) -> str:
        inner = m.group(1).strip().lower()
        # whole words only: "(MAL)" is not supported by "normal"
        found = inner and re.search(rf"(?<!\w){re.escape(inner)}(?!\w)", source)
        return m.group(0) if found else ""

    return _ASIDE.sub(keep_if_sourced, candidate).strip()


def _finish(sentence: str) -> str:
    sentence = sentence.strip()
    return sentence if sentence.endswith((".", "!", "?")) else sentence + "."


def write_tldr(
    paper: Paper,
    *,
    llm: ChatModel,
    embedder: Embedder | None = None,
    config: TldrConfig | None = None,
) -> Tldr:
    cfg = config or TldrConfig()
    t0 = time.perf_counter()
    original_hash = paper.content_hash
    # Planted instructions are dropped before the model or the judge sees the abstract.
    paper = clean_paper(paper)
    messages = tldr_messages(paper, llm, cfg.max_tokens, cfg.source_tokens)
    opener = prompting.reply_opener(messages)
    if embedder is not None:
        embedder = grounding.CachingEmbedder(embedder)  # abstract sentences embedded once
    best: tuple[float, str] | None = None
    for attempt in range(cfg.attempts):
        # Greedy first; later attempts sample, so a retry can actually differ.
        gen = llm.generate(
            messages,
            max_tokens=cfg.max_tokens,
            stop=SENTENCE_STOPS,
            temperature=0.0 if attempt == 0 else 0.7,
            seed=cfg.seed + attempt,
        )
        if gen.finish_reason == "repetition":  # the model looped: never a summary
            continue
        candidate = clean_candidate(continue_opener(opener, gen.text), paper.title)
        ok, support, _ = judge_candidate(candidate, paper, cfg, embedder)
        if not ok and (repaired := drop_invented_asides(candidate, paper)) != candidate:
            candidate = repaired
            ok, support, _ = judge_candidate(candidate, paper, cfg, embedder)
        if ok and (best is None or support > best[0]):
            best = (support, _finish(candidate))
            break
    if best is not None:
        text, method, support = best[1], "generated", best[0]
    else:
        text = _finish(extractive.pick_extractive_tldr(paper.title, paper.abstract, cfg.max_words))
        method = "extractive"
        support = grounding.score_support(text, [judge_source(paper)], embedder=embedder).score
    return Tldr(
        paper_id=paper.paper_id,
        title=paper.title,
        tldr=text,
        method=method,  # type: ignore[arg-type]
        support=round(support, 4),
        words=len(text.split()),
        provenance=cfg.provenance | {"content_hash": original_hash},
        seconds=round(time.perf_counter() - t0, 3),
    )


def write_tldrs(
    papers: Sequence[Paper],
    *,
    llm: ChatModel,
    embedder: Embedder | None = None,
    config: TldrConfig | None = None,
    on_done: Callable[[Tldr], None] | None = None,
) -> list[Tldr]:
    out = []
    for paper in papers:
        record = write_tldr(paper, llm=llm, embedder=embedder, config=config)
        if on_done:
            on_done(record)
        out.append(record)
    return out
