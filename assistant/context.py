"""Building the answer prompt within the token budget.

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


@dataclass(frozen=True)
class SourceBlock:
    marker: int
    hit: Hit
    title: str
    text: str  # what the model sees
    abstract: str  # the whole abstract, for quotes


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


def answer_prefix_probes() -> list[list[Message]]:
    """Two answer prompts that differ from the first character of their variable parts on: the
    tokens they share start every answer prompt (:meth:`LocalLLM.warm_prefix` warms them)."""
    return [_messages("(none)", "?"), _messages("[1] A\nB", "Why?")]
