"""Replay recorded generations through llama.cpp's low-level API: the raw cost of the tokens.

:class:`assistant.llm.llama.LocalLLM` records, when its ``trace`` is a list, every generation as
llama.cpp saw it (the prompt, how much of it the KV cache already held, every sampled token).
:func:`replay` evaluates exactly those tokens again on a fresh context of the same model, in the
same order and batch shapes, and samples with the same sampler chain: nothing else. The
difference between a pipeline's wall time and the replay's is the pipeline's own overhead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from assistant.llm.stream import TraceEntry


def _sampler(temperature: float, seed: int, n_vocab: int) -> Any:
    """The chain llama-cpp-python's ``Llama.generate`` builds for our arguments."""
    import llama_cpp

    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = llama_cpp.llama_sampler_chain_add
    add(chain, llama_cpp.llama_sampler_init_penalties(n_vocab, 64, 1.0, 0.0, 0.0))
    if temperature == 0.0:
        add(chain, llama_cpp.llama_sampler_init_greedy())
    else:
        add(chain, llama_cpp.llama_sampler_init_top_k(40))
        add(chain, llama_cpp.llama_sampler_init_typical(1.0, 1))
        add(chain, llama_cpp.llama_sampler_init_top_p(0.95, 1))
        add(chain, llama_cpp.llama_sampler_init_min_p(0.05, 1))
        add(chain, llama_cpp.llama_sampler_init_temp(temperature))
        add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain


class Replayer:
    """A bare llama.cpp context over an already loaded model (a ``llama_cpp.Llama``)."""

    def __init__(
        self, llama: Any, *, n_ctx: int, n_batch: int, n_threads: int, flash_attn: bool = False
    ) -> None:
        import llama_cpp
        from llama_cpp import _internals

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if flash_attn
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        self._ctx = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self._mem = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._n_batch = n_batch
        self._n_vocab = int(llama.n_vocab())
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self.evaluated = 0
        self.sampled = 0

    def _decode(self, tokens: Sequence[int], pos: int) -> None:
        import llama_cpp

        b = self._batch
        for start in range(0, len(tokens), self._n_batch):
            part = tokens[start : start + self._n_batch]
            for i, t in enumerate(part):
                b.token[i] = t
                b.pos[i] = pos + start + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = 0
                b.logits[i] = i == len(part) - 1
            b.n_tokens = len(part)
            rc = llama_cpp.llama_decode(self._ctx.ctx, b)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
        self.evaluated += len(tokens)

    def replay(self, entries: Sequence[TraceEntry]) -> float:
        """Evaluate and sample exactly what ``entries`` record; return the wall seconds."""
        import llama_cpp

        t0 = time.perf_counter()
        for e in entries:
            llama_cpp.llama_memory_seq_rm(self._mem, 0, e.reused, -1)
            if e.reused < len(e.prompt):
                self._decode(e.prompt[e.reused :], e.reused)
            pos = len(e.prompt)
            chain = _sampler(e.temperature, e.seed, self._n_vocab)
            try:
                for i, token in enumerate(e.sampled):
                    llama_cpp.llama_sampler_sample(chain, self._ctx.ctx, -1)
                    self.sampled += 1
                    if i < len(e.sampled) - 1:  # the last sampled token is never evaluated
                        self._decode([token], pos)
                        pos += 1
            finally:
                llama_cpp.llama_sampler_free(chain)
        return time.perf_counter() - t0

    def close(self) -> None:
        import llama_cpp

        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self._ctx.close()  # type: ignore[no-untyped-call]
