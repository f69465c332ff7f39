"""The KV-cache prefix: what a call reuses of the previous one, and warming the prefix a
template's prompts share before the first call.

Every prompt of a template starts with the same tokens: the chat template's framing and the
fixed system turn (:mod:`assistant.prompting`), ~100 tokens of the answer prompt. A warm model
keeps them from the previous call (llama-cpp-python reuses the longest common prefix of the
cached tokens); a just-loaded one would evaluate them inside the first question's prefill.
Evaluating them right after the load, in the background thread that loads the model during a
cold start, takes them off that question's time to first token.

The prefix is not written down anywhere: it is the longest common prefix of the token lists of
two or more differently filled prompts of the template, exactly as the model tokenises them.
Should a real prompt share fewer of them (a merge at the boundary), llama-cpp-python just
reuses fewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.errors import ModelError
from assistant.llm.chat import GENERATION_ERRORS, error_hint
from assistant.llm.stream import common_prefix

# llama.cpp's CPU kernels give a token the same numbers in any batch of at least this many
# tokens, and other numbers in smaller ones (measured here: logits bit-identical from 64 up,
# up to 1.0 apart below). So a warm-up evaluates one batch of at least this many tokens, and
# a first call with fewer of its own after them does without it: a cold answer must be the
# same with or without the warm-up.
MIN_BATCH = 64


def reused_prefix(llama: Any, tokens: Sequence[int]) -> int:
    """What llama-cpp-python's ``generate(tokens, reset=True)`` keeps of ``llama``'s KV cache:
    the longest common prefix with the cached tokens, less one when the whole prompt matches
    (its last token is re-evaluated for logits) unless exactly that prompt was just evaluated."""
    reused = common_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
    exact = llama.n_tokens == len(tokens) and not getattr(llama, "_requires_eval", True)
    if reused == len(tokens) and not exact:
        reused -= 1
    return max(0, reused)


def shared_prefix(prompts: Sequence[Sequence[int]]) -> list[int]:
    """The tokens every one of ``prompts`` starts with ([] for none)."""
    if not prompts:
        return []
    first = prompts[0]
    n = min((common_prefix(first, other) for other in prompts[1:]), default=len(first))
    return list(first[:n])


class Warmup:
    """Warms the cache of one model (:meth:`run`) and makes sure the first real call after
    that sees exactly what it would have without it (:meth:`settle`)."""

    def __init__(self) -> None:
        self.tokens = 0  # what the last warm-up left in the cache, until the next real call

    def run(self, llama: Any, tokens: list[int], threads: int, n_threads: int) -> int:
        """Evaluate ``tokens`` into ``llama``'s empty KV cache in one batch with ``threads``
        threads (then back to ``n_threads``); return how many were evaluated. The caller
        holds the model's gate.

        Skipped (0) when the cache already holds tokens (a real call's, which a warm-up must
        not replace) or when there are fewer than :data:`MIN_BATCH` tokens.
        """
        if llama.n_tokens or len(tokens) < MIN_BATCH:
            return 0
        llama._ctx.set_n_threads(threads, threads)  # llama_set_n_threads on the live context
        try:
            llama.eval(tokens)
        except GENERATION_ERRORS as exc:
            llama.reset()  # the context may be half-evaluated: start clean
            raise ModelError(f"warming the prompt prefix failed: {error_hint(exc)}") from exc
        finally:
            llama._ctx.set_n_threads(n_threads, n_threads)
        self.tokens = len(tokens)
        return self.tokens

    def settle(self, llama: Any, tokens: Sequence[int]) -> None:
        """Before a real call of ``tokens`` (under the gate): if only a warm-up's prefix is in
        the cache and the call would evaluate fewer than :data:`MIN_BATCH` tokens after it,
        drop the cache, so that those tokens get the numbers they get in a cold run."""
        if self.tokens and len(tokens) - reused_prefix(llama, tokens) < MIN_BATCH:
            llama.reset()
        self.tokens = 0
