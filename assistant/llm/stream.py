"""The parts of the model adapter that need no llama.cpp (so tests and benchmarks use them
directly): the lock with its bounded wait queue, turning sampled tokens into streamed text with
stop strings, the loop guard, and the counters and trace a generation leaves.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from assistant.errors import BusyError

# --- the lock and the bounded wait queue --------------------------------------------------------


class ModelGate:
    """``slots`` holders of the model at once (one for llama.cpp's single context; a server's
    parallel slots for a remote model) plus a bounded count of callers waiting for one.

    A caller that finds every slot taken and ``queue_size`` callers already waiting gets
    :class:`BusyError` at once, so overload is reported instead of piling up.
    """

    def __init__(self, queue_size: int, timeout_s: float | None = None, *, slots: int = 1) -> None:
        if queue_size < 0:
            raise ValueError("queue_size must be >= 0")
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self.slots = slots
        self._free = threading.Semaphore(slots)
        self._state = threading.Lock()
        self._waiting = 0
        self._holding = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def busy(self) -> bool:
        """True while every slot is held."""
        return self._holding >= self.slots

    @contextmanager
    def hold(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            with self._state:
                if self._waiting >= self.queue_size:
                    raise BusyError(
                        f"the model is busy with {self._waiting + 1} requests; try again shortly"
                    )
                self._waiting += 1
            try:
                acquired = self._free.acquire(timeout=self.timeout_s)
            finally:
                with self._state:
                    self._waiting -= 1
            if not acquired:
                raise BusyError("the model stayed busy too long; try again shortly")
        with self._held():
            yield

    @contextmanager
    def hold_if_free(self) -> Iterator[bool]:
        """Hold a slot if one is free right now, yielding True; else yield False at once (not
        queued): for optional work, such as a warm-up, that must never hold up a real call."""
        if not self._free.acquire(blocking=False):
            yield False
            return
        with self._held():
            yield True

    @contextmanager
    def _held(self) -> Iterator[None]:
        """Count a slot just acquired as held; release it at the end."""
        with self._state:
            self._holding += 1
        try:
            yield
        finally:
            with self._state:
                self._holding -= 1
            self._free.release()


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of some stop string."""
    best = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:n]):
                best = n
                break
    return best


class CallbackError(Exception):
    """Carries an exception raised by the caller's ``on_token`` through the model code."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


@dataclass
class Consumed:
    text: str
    n_tokens: int
    finish_reason: str
    t_first: float | None


# A small model greedily decoding often falls into a loop ("the previous best achieved by the
# previous best achieved by ...") and would run to max_tokens. Generation stops once the newest
# tokens repeat with a period of at most REPEAT_MAX_PERIOD tokens over at least
# REPEAT_MIN_SPAN tokens and at least two whole periods.
REPEAT_MAX_PERIOD = 32
REPEAT_MIN_SPAN = 16


class RepetitionGuard:
    """Detects a degenerate loop at the end of a token stream, in O(max_period) per token.

    ``run[p]`` counts how many of the newest tokens equal the token ``p`` positions before
    them; the newest ``run[p] + p`` tokens are then periodic with period ``p``.
    """

    def __init__(self, max_period: int = REPEAT_MAX_PERIOD, min_span: int = REPEAT_MIN_SPAN):
        if max_period < 1 or min_span < 2:
            raise ValueError("max_period must be >= 1 and min_span >= 2")
        self.max_period = max_period
        self.min_span = min_span
        self._tokens: list[int] = []
        self._run = [0] * (max_period + 1)
        self.period = 0  # the loop's period once detected

    def push(self, token: int) -> bool:
        """Add the newest token; True when the stream has degenerated into a loop."""
        tokens = self._tokens
        tokens.append(token)
        n = len(tokens)
        run = self._run
        for p in range(1, min(self.max_period, n - 1) + 1):
            if tokens[n - 1 - p] == token:
                run[p] += 1
                if run[p] + p >= max(2 * p, self.min_span):
                    self.period = p
                    return True
            else:
                run[p] = 0
        return False


def consume(
    tokens: Iterator[int],
    *,
    piece: Callable[[int], bytes],
    is_end: Callable[[int], bool],
    budget: int,
    stops: Sequence[str],
    on_token: Callable[[str], None] | None,
    guard: RepetitionGuard | None = None,
) -> Consumed:
    """Turn a stream of sampled token ids into text, honouring end tokens, stops and budget.

    ``piece`` gives a token's bytes (UTF-8 may split across tokens; an incremental decoder
    joins them). Text is cut before the earliest stop string. ``on_token`` receives text as soon
    as it cannot be the start of a stop string, so a stop string is never streamed and the
    pieces always concatenate to the returned text. ``n_tokens`` counts completion tokens
    (end-of-generation tokens excluded). With a ``guard``, a degenerate loop ends generation
    (finish_reason "repetition"); the text keeps what was generated up to that point.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = ""
    emitted = 0
    n_out = 0
    finish = "length"
    t_first: float | None = None
    for token in tokens:
        if t_first is None:
            t_first = time.perf_counter()
        if is_end(token):
            finish = "stop"
            break
        n_out += 1
        text += decoder.decode(piece(token))
        # a stop can only start at or after ``emitted`` (longer prefixes are held back)
        hits = [i for i in (text.find(s, emitted) for s in stops) if i >= 0]
        if hits:
            text = text[: min(hits)]
            finish = "stop"
            break
        safe = len(text) - held_back(text, stops)
        if on_token is not None and safe > emitted:
            on_token(text[emitted:safe])
            emitted = safe
        if n_out >= budget:
            break
        if guard is not None and guard.push(token):
            finish = "repetition"
            break
    if finish in ("length", "repetition"):
        text += decoder.decode(b"", final=True)
    if on_token is not None and len(text) > emitted:
        on_token(text[emitted:])
    return Consumed(text=text, n_tokens=n_out, finish_reason=finish, t_first=t_first)


@dataclass
class LLMStats:
    """Counters over every generation since the last :meth:`reset` (for benchmarks and logs)."""

    calls: int = 0
    prompt_tokens: int = 0  # tokens of the prompts as sent
    reused_tokens: int = 0  # of those, taken from the KV cache (shared prefix with the last call)
    completion_tokens: int = 0
    repetition_stops: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0

    def add(
        self, prompt: int, reused: int, result: Consumed, prefill_s: float, decode_s: float
    ) -> None:
        """Count one generation."""
        self.calls += 1
        self.prompt_tokens += prompt
        self.reused_tokens += reused
        self.completion_tokens += result.n_tokens
        self.repetition_stops += result.finish_reason == "repetition"
        self.prefill_s += prefill_s
        self.decode_s += decode_s

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens

    def reset(self) -> None:
        for name, value in type(self)().__dict__.items():
            setattr(self, name, value)


@dataclass(frozen=True)
class TraceEntry:
    """One generation as llama.cpp saw it, enough to replay its exact cost."""

    prompt: tuple[int, ...]  # the whole prompt
    reused: int  # leading prompt tokens already in the KV cache
    sampled: tuple[int, ...]  # every sampled token, the final end-of-generation one included
    temperature: float
    seed: int


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
