"""Optional LLM judge (``assistant eval --judge-model PATH``), off by default and never gating.

LLM judges are fragile with small local models (unparseable replies, NaN scores), so the gate
uses only the deterministic grounding judge; this one is a second opinion for users with a
bigger GGUF. It asks a plain yes/no question per sentence and reports agreement.
"""

from __future__ import annotations

from pathlib import Path

from assistant.config import Settings
from assistant.protocols import ChatModel, Message
from evals.metrics import yes_no

SYSTEM = (
    "You check whether a sentence is supported by a source text. Answer with one word: "
    "yes if every fact in the sentence is stated in the source, otherwise no."
)


def judge_messages(sentence: str, source: str) -> list[Message]:
    user = (
        f"Source:\n{source}\n\nSentence:\n{sentence}\n\n"
        "Is the sentence supported by the source? Answer yes or no."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def ask_judge(llm: ChatModel, sentence: str, source: str) -> bool | None:
    """True (supported), False (not), or None when the reply has neither yes nor no."""
    gen = llm.generate(judge_messages(sentence, source), max_tokens=4, temperature=0.0, seed=0)
    return yes_no(gen.text)


def load_judge(settings: Settings, path: Path) -> ChatModel:
    """A LocalLLM over ``path`` with the evaluated settings otherwise (no hash pin)."""
    from assistant.llm.llama import LocalLLM

    judge_settings = settings.model_copy(update={"model_path": path, "model_sha256": None})
    return LocalLLM(judge_settings)
