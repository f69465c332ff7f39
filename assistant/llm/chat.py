"""The llama.cpp-free parts of the chat adapter: the ChatML fallback template, end-of-turn
markers, the prompt-token cache, and the table that maps generation errors to messages."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from assistant.protocols import Message

__all__ = [
    "END_OF_TURN_MARKERS",
    "GENERATION_ERRORS",
    "ZWSP",
    "PromptCache",
    "chatml",
    "end_tokens",
    "error_hint",
    "neutralise",
    "pick_formatter",
]

Formatter = Callable[[list[Message]], str]

# End-of-turn markers of common chat templates; those that occur in a model's template and are
# one token in its vocabulary end generation (in addition to the vocabulary's own EOG tokens).
END_OF_TURN_MARKERS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")
ZWSP = "\u200b"  # splits special-token text inside message contents

# What llama.cpp raises during a generation (a failed decode, a full KV cache, memory), each with
# what to tell the user; the most specific class wins. Anything else is a bug and propagates.
_HINTS: dict[type[Exception], str] = {
    MemoryError: "out of memory; try a smaller n_ctx or model",
    RuntimeError: "llama.cpp failed to decode",
    ValueError: "llama.cpp rejected the request",
    OSError: "the model file could not be read",
}
GENERATION_ERRORS: tuple[type[Exception], ...] = tuple(_HINTS)


def error_hint(exc: Exception) -> str:
    cls = next((c for c in type(exc).__mro__ if c in _HINTS), None)
    return f"{_HINTS[cls]} ({exc})" if cls is not None else str(exc)


def chatml(messages: Sequence[Message]) -> str:
    """ChatML, for a GGUF without a chat template of its own."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


class PromptCache:
    """Messages -> prompt token ids, least recently used first out; thread-safe."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[tuple[tuple[str, str], ...], tuple[int, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @staticmethod
    def _key(messages: Sequence[Message]) -> tuple[tuple[str, str], ...]:
        return tuple((m["role"], m["content"]) for m in messages)

    def get(self, messages: Sequence[Message]) -> list[int] | None:
        key = self._key(messages)
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return list(found)

    def put(self, messages: Sequence[Message], tokens: Sequence[int]) -> None:
        with self._lock:
            self._items[self._key(messages)] = tuple(tokens)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def pick_formatter(
    template: str, bos_text: str, eos_text: str, jinja_formatter: Callable[..., Any]
) -> tuple[Formatter, str, str]:
    """(formatter, where it came from, the template in use) for a GGUF's chat template.

    ``jinja_formatter`` is llama-cpp-python's ``Jinja2ChatFormatter`` (passed in: this module
    does not import llama_cpp). A template it cannot run falls back to ChatML.
    """
    if not template:
        return chatml, "fallback:chatml (the GGUF has no tokenizer.chat_template)", ""
    try:
        jinja = jinja_formatter(
            template=template, eos_token=eos_text, bos_token=bos_text, add_generation_prompt=True
        )

        def formatter(messages: list[Message]) -> str:
            return str(jinja(messages=messages).prompt)

        formatter([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])
        return formatter, "gguf:tokenizer.chat_template", template
    except Exception as exc:  # a template llama-cpp-python's Jinja cannot run
        return chatml, f"fallback:chatml (GGUF chat template failed: {exc})", ""


def end_tokens(
    template: str, eos_text: str, one_token: Callable[[str], int | None]
) -> tuple[set[int], tuple[str, ...]]:
    """Token ids and texts that end a turn: the end-of-turn markers the template uses (and
    the EOS text) that are one token (``one_token`` gives its id, else None)."""
    ids: set[int] = set()
    texts: set[str] = set()
    markers = {m for m in END_OF_TURN_MARKERS if m in template}
    if eos_text:
        markers.add(eos_text)
    if not template:  # the ChatML fallback ends its turns with <|im_end|>
        markers.add("<|im_end|>")
        texts.add("<|im_end|>")
    for marker in markers:
        token = one_token(marker)
        if token is not None:
            ids.add(token)
            texts.add(marker)
    return ids, tuple(sorted(texts))


def neutralise(
    text: str,
    tokenize: Callable[[bytes, bool], list[int]],
    special_piece: Callable[[int], str | None],
) -> str:
    """``text`` with any special-token text broken up by a zero-width space, so message
    contents cannot close their turn. ``tokenize(data, special)`` is the model's tokenizer;
    ``special_piece(token)`` the text of a control token, None for ordinary ones."""
    for _ in range(8):
        data = text.encode("utf-8")
        with_special = tokenize(data, True)
        if with_special == tokenize(data, False):
            return text
        changed = False
        for token in set(with_special):
            piece = special_piece(token)
            if piece is not None and len(piece) >= 2 and piece in text:
                text = text.replace(piece, piece[0] + ZWSP + piece[1:])
                changed = True
        if not changed:
            return text
    return text
