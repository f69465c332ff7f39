"""Keeping instructions planted in abstracts away from the model and out of the evidence.

An ingested abstract is data. Sentences that read as instructions to an assistant ("ignore the
previous instructions", "reply with ...", "append this image"), or that carry markup (HTML, a
markdown image or link, a chat-template token), are dropped before an abstract is shown to the
model or used as evidence. Whole sentences are dropped, never edited, so every quote we show is
still verbatim. The store keeps the original text.
"""

from __future__ import annotations

import re

from assistant.grounding.textnorm import split_sentences

_PATTERNS = [
    r"\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instruction|prompt|rule|context|above|previous)",
    r"(?:^|\band|\bplease|\bnow|[,;:])\s*(?:reply|respond|answer|output|print|say|write)\b"
    r"[^.]{0,20}\b(?:only|exactly|with|the word|the string)\b",
    r"\b(?:you are|you must|you should|as an ai|as an assistant|language model,)\b",
    r"\b(?:system prompt|assistant:|user:|system:)",
    r"\bappend\b[^.]{0,40}\b(?:image|link|url|markdown|following)",
    # addressed to the model that reads the abstract, or to what it writes
    r"\b(?:note|message|instructions?)\s+(?:for|to)\s+(?:ai|llms?|language models?|"
    r"assistants?|chatbots?|models?)\b",
    r"\b(?:ai|llms?|language models?|assistants?|chatbots?|models?)\s+(?:reading|processing|"
    r"summari[sz]ing)\s+this(?:\s+(?:abstract|paper|text|document|work|note|message))?"
    r"\s*(?:[,:]|(?:must|should|shall|need|will)\b)",
    r"\b(?:new|updated|revised|real|actual) instructions?\s*[:\-–]",
    r"\byour (?:responses?|answers?|repl(?:y|ies)|outputs?|summary|summaries)\b",
    r"\b(?:begin|start|end|prefix|preface)\s+(?:every|each|all|any|your)\s+(?:summary|"
    r"summaries|answers?|responses?|repl(?:y|ies)|outputs?)\b",
    r"\b(?:answer|response|reply) to (?:any|every|all) (?:questions?|quer(?:y|ies)|prompts?)\b",
    r"\bwhen (?:summari[sz]ing|answering|describing|asked about|responding to)\b[^.]{0,30}"
    r"\bthis (?:abstract|paper|work|article|document|text)\b",
    r"\b(?:canary|exfiltrat)",
    r"<\|[a-z_]+\|>|</?s>|\[/?inst\]",
    r"<\s*/?\s*[a-z][a-z0-9]*\b[^>]*>",  # HTML tags
    r"!\[[^\]]*\]\([^)]*\)",  # markdown image
    r"\]\(\s*(?:javascript|data|vbscript):",  # markdown link to a script URL
    r"\[[^\]]*\]\(\s*[a-z][a-z0-9+.-]*:",  # any markdown link: abstracts are plain text
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
