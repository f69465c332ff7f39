"""The wire format of OpenAI-compatible chat completions, with no HTTP client: the request
body, server-sent events, the streamed chunks, and defanging special-token text.

Kept apart from :mod:`.openai_compat` (the client) so the parsing can be tested line by line
and the client reads as what it does with the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

from assistant.llm.chat import END_OF_TURN_MARKERS, ZWSP
from assistant.protocols import Message

__all__ = [
    "LLAMA_SAMPLING",
    "OPENAI_MAX_STOPS",
    "OPENER_INSTRUCTION",
    "Malformed",
    "chat_request",
    "opener_as_instruction",
    "defang",
    "parse_chunk",
    "sse_payloads",
]

OPENAI_MAX_STOPS = 4
# Sampler fields of the llama.cpp family, so a server samples like the in-process model
# (llama-cpp-python's server would otherwise apply repeat_penalty 1.1 even when greedy).
LLAMA_SAMPLING = {"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0}
TOP_P = 0.95  # as the in-process adapter samples
_SPECIAL = re.compile(r"<\|[^|<>\s]{1,40}\|>|</?s>|\[/?INST\]|<(?:start|end)_of_turn>")


def chat_request(
    model: str | None,
    messages: Sequence[Message],
    *,
    max_tokens: int,
    stops: Sequence[str],
    temperature: float,
    seed: int,
    strict: bool,
) -> dict[str, Any]:
    """The body of a streamed ``POST /chat/completions``; ``strict`` sends only OpenAI fields."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m["role"], "content": defang(m["content"])} for m in messages],
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": TOP_P,
        "seed": seed,
        "stop": list(stops[:OPENAI_MAX_STOPS] if strict else stops),
    }
    if not strict:
        body |= LLAMA_SAMPLING
        if messages and messages[-1]["role"] == "assistant":
            # continue the reply opener (vLLM's fields; llama.cpp's server does it unasked;
            # others start a new turn, which the TL;DR writer accepts too)
            body |= {"continue_final_message": True, "add_generation_prompt": False}
    return body


# A reply opener (a trailing assistant message: "Cappy is") asks the model to continue it. vLLM
# (continue_final_message) and llama.cpp's server do; llama-cpp-python's server renders it as a
# finished turn and starts a new one, after which the small model writes worse TL;DRs than when
# told in words. For such a server the opener becomes this instruction (docs/DEPLOY.md).
OPENER_INSTRUCTION = '\n\nBegin your reply with "{opener}".'


def opener_as_instruction(messages: Sequence[Message]) -> list[Message]:
    """``messages`` with a trailing assistant opener folded into the last user turn."""
    out = [dict(m) for m in messages]
    if len(out) < 2 or out[-1]["role"] != "assistant" or out[-2]["role"] != "user":
        return out
    opener = out.pop()["content"]
    out[-1]["content"] += OPENER_INSTRUCTION.format(opener=opener.strip())
    return out


class Malformed(Exception):
    """The server's stream is not what the API promises."""


def sse_payloads(lines: Iterator[str]) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream, one per event, until ``[DONE]``.

    Comment lines (": ping", sent by sse-starlette while a slow prompt is processed) and other
    fields are skipped; a multi-line data field is joined with newlines, as the spec says.
    """
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                payload = "\n".join(data)
                data = []
                if payload.strip() == "[DONE]":
                    return
                yield payload
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        payload = "\n".join(data)
        if payload.strip() != "[DONE]":
            yield payload
            raise Malformed("the stream ended without [DONE]")
        return
    raise Malformed("the stream ended without [DONE]")


def defang(text: str) -> str:
    """``text`` with special-token text broken up by a zero-width space: the server's template
    would parse ``<|im_end|>`` in a source as a control token and let the source end its turn."""
    for marker in END_OF_TURN_MARKERS:
        text = text.replace(marker, marker[0] + ZWSP + marker[1:])
    return _SPECIAL.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], text)


def parse_chunk(payload: str) -> list[tuple[str, str]]:
    """(text, finish_reason) of each choice in one streamed chunk; raises on a malformed one."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise Malformed(f"not JSON: {payload[:80]!r}") from exc
    if not isinstance(data, dict):
        raise Malformed(f"not an object: {payload[:80]!r}")
    if "error" in data:
        error = data["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise Malformed(f"the server reported an error: {str(message)[:200]}")
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise Malformed(f"no choices: {payload[:80]!r}")
    out = []
    for choice in choices[:1]:  # n = 1
        if not isinstance(choice, dict):
            raise Malformed(f"a choice is not an object: {payload[:80]!r}")
        delta = choice.get("delta") or {}
        text = delta.get("content") if isinstance(delta, dict) else None
        if text is not None and not isinstance(text, str):
            raise Malformed(f"content is not text: {payload[:80]!r}")
        out.append((text or "", str(choice.get("finish_reason") or "")))
    return out
