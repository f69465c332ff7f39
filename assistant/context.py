"""Building the answer prompt within the token budget, and judging whether evidence suffices.

Prefill dominates latency on a CPU, so each source is compressed to its few sentences most
relevant to the question (in their original order). Sources are added in rank order while the
exact templated prompt, counted by the model's own tokenizer, plus max_tokens fits in n_ctx;
the ones that did not fit are returned so the caller can report them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from assistant import grounding, prompting
from assistant.protocols import ChatModel, Message
from assistant.types import Hit

# 2, not 3: with top_k 3 the full qa eval kept key-fact recall (0.709 vs 0.703) and no
# unsupported sentence while the answer prompt shrank from ~780 to ~400 tokens.
SENTENCES_PER_SOURCE = 2
MAX_QUESTION_SHARE = 4  # the question may use at most 1/4 of the context window

# Words that say what kind of thing is asked, not which fact: they cannot show sufficiency.
_GENERIC = frozenset(
    grounding.content_words(
        "paper papers work study method methods approach model models propose proposed "
        "introduce introduced present presented new novel main key result results show shows "
        "author authors describe described does what which how many much kind type name called "
        "according abstract listing about tell explain give list mention mentioned"
    )
)


@dataclass(frozen=True)
class SourceBlock:
    marker: int
    hit: Hit
    title: str
    text: str  # what the model sees
    abstract: str  # the whole abstract, for quotes


def focus_terms(question: str, titles: Sequence[str]) -> set[str]:
    """Content words of the question that the titles do not already explain."""
    title_words: set[str] = set()
    for t in titles:
        title_words |= grounding.content_words(t)
    return grounding.content_words(question) - title_words - _GENERIC


_QUANTITY = ("how many", "how much", "what percentage", "what accuracy", "how large", "what size")


def wants_number(question: str) -> bool:
    q = question.lower()
    return any(k in q for k in _QUANTITY)


PREFIX = 5  # stems sharing this many leading letters count as one term (collected/collection)


def _matches(focus: set[str], words: set[str]) -> int:
    """Focus terms a sentence mentions; the crude stemmer leaves inflections apart, so a shared
    prefix of PREFIX letters also counts."""
    n = 0
    for term in focus:
        if term in words or (
            len(term) >= PREFIX and any(w[:PREFIX] == term[:PREFIX] for w in words)
        ):
            n += 1
    return n


def _coverage(focus: set[str], texts: Sequence[str], *, numeric: bool) -> float:
    """Best share of ``focus`` one sentence of ``texts`` covers, 0 when under what is needed.

    With ``numeric`` (a "how many" question) only sentences that state a number count.
    """
    if not focus and not numeric:
        return 1.0
    needed = 0.5 if len(focus) > 1 else 1.0
    best = 0.0
    for text in texts:
        for sentence in grounding.split_sentences(text):
            if numeric and not grounding.extract_numbers(sentence):
                continue
            if not focus:
                return 1.0
            cover = _matches(focus, grounding.content_words(sentence)) / len(focus)
            if cover >= needed:
                best = max(best, cover)
    return best


def sufficient_evidence(question: str, texts: Sequence[str], titles: Sequence[str]) -> float:
    """Share of the question's focus terms that one source sentence covers (0 = insufficient).

    Near-miss questions (a real paper, a detail it does not give) retrieve well, so similarity
    alone cannot tell them apart; this asks whether any sentence mentions what is asked. Each
    source is judged with its own title's words removed from the focus terms (a word naming a
    *different* retrieved paper is still something to cover), and all sources together with
    every title's words removed (a question spanning papers names each of them). A question
    asking for a quantity needs a sentence that states a number.
    """
    numeric = wants_number(question)
    best = _coverage(focus_terms(question, titles), texts, numeric=numeric)
    for text, title in zip(texts, titles, strict=True):
        best = max(best, _coverage(focus_terms(question, [title]), [text], numeric=numeric))
    return best


def evidence_sentence(question: str, abstract: str, title: str) -> tuple[float, str]:
    """The abstract sentence that best answers ``question``, scored by focus-term coverage.

    Returns (0.0, "") when no sentence mentions what is asked.
    """
    focus = focus_terms(question, [title])
    q_words = grounding.content_words(question)
    numeric = wants_number(question)
    best: tuple[float, str] = (0.0, "")
    for sentence in grounding.split_sentences(abstract):
        words = grounding.content_words(sentence)
        cover = len(focus & words) / len(focus) if focus else 0.5
        needed = 0.5 if len(focus) > 1 else 1.0
        if focus and cover < needed:
            continue
        score = cover + 0.3 * len(q_words & words) / (len(q_words) or 1)
        if numeric and grounding.extract_numbers(sentence):
            score += 0.3
        if score > best[0]:
            best = (score, sentence)
    return best


def compress(question: str, abstract: str, chunk: str, n: int = SENTENCES_PER_SOURCE) -> str:
    sentences = grounding.split_sentences(abstract)
    if len(sentences) <= n:
        return " ".join(sentences)
    q = grounding.content_words(question)
    q_nums = grounding.extract_numbers(question)

    def score(i: int) -> float:
        s = sentences[i]
        words = grounding.content_words(s)
        overlap = len(q & words) / (len(q) or 1)
        in_chunk = 0.2 if s in chunk else 0.0
        nums = 0.1 if (q_nums & grounding.extract_numbers(s)) else 0.0
        return overlap + in_chunk + nums + (0.05 if i == 0 else 0.0)

    keep = sorted(sorted(range(len(sentences)), key=lambda i: -score(i))[:n])
    return " ".join(sentences[i] for i in keep)


def clip_words(text: str, llm: ChatModel, budget: int) -> str:
    words = text.split()
    while len(words) > 1 and llm.count_tokens(" ".join(words)) > budget:
        words = words[: max(1, int(len(words) * 0.8))]
    clipped = " ".join(words)
    # one "word" can be a whole paragraph (scripts written without spaces): cut characters
    while clipped and llm.count_tokens(clipped) > budget:
        clipped = clipped[: int(len(clipped) * 0.8)]
    return clipped


def _messages(sources: str, question: str) -> list[Message]:
    return prompting.split_system_user("answer", sources=sources, question=question)


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    abstracts: Mapping[str, str],
    *,
    llm: ChatModel,
    max_tokens: int,
) -> tuple[list[Message], list[SourceBlock], list[str]]:
    budget = llm.n_ctx - max_tokens
    q = clip_words(question, llm, max(8, llm.n_ctx // MAX_QUESTION_SHARE))
    blocks: list[SourceBlock] = []
    dropped: list[str] = []
    rendered: list[str] = []
    for h in hits:
        abstract = abstracts.get(h.paper_id) or h.text
        marker = len(blocks) + 1
        block = SourceBlock(marker, h, h.title, compress(q, abstract, h.text), abstract)
        candidate = [*rendered, f"[{marker}] {h.title}\n{block.text}"]
        if llm.prompt_tokens(_messages("\n\n".join(candidate), q)) <= budget:
            blocks.append(block)
            rendered = candidate
        else:
            dropped.append(h.paper_id)
    messages = _messages("\n\n".join(rendered) or "(none)", q)
    # Only when the question alone is too long: clip it to what the template leaves, then
    # trim further by the overflow (a template joins tokens a little differently).
    over = llm.prompt_tokens(messages) - budget
    while q and over > 0:
        q = clip_words(q, llm, max(0, llm.count_tokens(q) - over))
        messages = _messages("(none)", q)
        over = llm.prompt_tokens(messages) - budget
    return messages, blocks, dropped
