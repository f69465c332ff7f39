"""Follow-up questions -> standalone questions, verified before use.

The model rewrites; the result is accepted only if it keeps every content word of the user's
question and brings in no number or entity absent from the conversation. Otherwise the last
user turn and the follow-up are simply joined, which retrieval handles well enough.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant import grounding, prompting
from assistant.protocols import ChatModel, Message

HISTORY_TURNS = 4
HISTORY_CHARS = 1200
_PRONOUNS = grounding.content_words("it its they them their this that these those one ones")


def _history_text(history: Sequence[Message]) -> str:
    turns = [m for m in history if m.get("role") in ("user", "assistant")][-HISTORY_TURNS:]
    text = "\n".join(f"{m['role']}: {m['content']}" for m in turns)
    return text[-HISTORY_CHARS:]


def fallback(question: str, history: Sequence[Message]) -> str:
    users = [m["content"] for m in history if m.get("role") == "user"]
    return f"{users[-1]} {question}".strip() if users else question


def acceptable(rewritten: str, question: str, history: Sequence[Message]) -> bool:
    if not rewritten or len(rewritten) > 4 * max(len(question), 80):
        return False
    needed = grounding.content_words(question) - _PRONOUNS
    if not needed <= grounding.content_words(rewritten):
        return False
    context = question + " " + " ".join(m["content"] for m in history)
    new_numbers = grounding.extract_numbers(rewritten) - grounding.extract_numbers(context)
    ctx_lower = context.lower()
    new_entities = {e for e in grounding.extract_entities(rewritten) if e.lower() not in ctx_lower}
    return not new_numbers and not new_entities


def standalone_question(question: str, history: Sequence[Message], *, llm: ChatModel) -> str:
    history_text = _history_text(history)
    if not history_text:
        return question
    messages = prompting.split_system_user("rewrite", history=history_text, question=question)
    if llm.prompt_tokens(messages) + 48 > llm.n_ctx:
        return fallback(question, history)
    gen = llm.generate(messages, max_tokens=48, stop=["\n"], temperature=0.0)
    rewritten = grounding.strip_unsafe(gen.text).strip().strip('"')
    return rewritten if acceptable(rewritten, question, history) else fallback(question, history)
