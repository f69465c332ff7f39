"""Keeping instructions planted in abstracts away from the model and out of the evidence.

An ingested abstract is data. Sentences that read as instructions to an assistant ("ignore the
previous instructions", "reply with ...", "append this image"), or that carry markup (HTML, a
markdown image or link, a chat-template token), are dropped before an abstract is shown to the
model or used as evidence. Whole sentences are dropped, never edited, so every quote we show is
still verbatim. The store keeps the original text.
"""

from __future__ import annotations

import re

from assistant.textnorm import split_sentences

_PATTERNS = [
    r"\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instruction|prompt|rule|context|above|previous)",
    r"(?:^|\band|\bplease|\bnow|[,;:])\s*(?:reply|respond|answer|output|print|say|write)\b"
    r"[^.]{0,20}\b(?:only|exactly|with|the word|the string)\b",
    r"\b(?:you are|you must|you should|as an ai|as an assistant|language model,)\b",
    r"\b(?:system prompt|assistant:|user:|system:)",
    r"\bappend\b[^.]{0,40}\b(?:image|link|url|markdown|following)",
    r"\b(?:canary|exfiltrat)",
    r"<\|[a-z_]+\|>|</?s>|\[/?inst\]",
    r"<\s*/?\s*[a-z][a-z0-9]*\b[^>]*>",  # HTML tags
    r"!\[[^\]]*\]\([^)]*\)",  # markdown image
    r"\]\(\s*(?:javascript|data|vbscript):",  # markdown link to a script URL
    r"\b(?:javascript|vbscript):",
    r"https?://\S*[?&][a-z0-9_]+=",  # URLs with query strings: the usual exfiltration carrier
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def is_instruction_like(sentence: str) -> bool:
    return bool(_INSTRUCTION.search(sentence))


def sanitize_source(text: str) -> str:
    """``text`` without its instruction-like or markup-carrying sentences."""
    kept = [s for s in split_sentences(text) if not is_instruction_like(s)]
    return " ".join(kept)
