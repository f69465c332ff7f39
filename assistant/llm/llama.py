"""The chat model: a llama-cpp-python adapter implementing :class:`ChatModel` (the only module
importing ``llama_cpp``, inside functions, so importing it stays cheap).

* The GGUF (the bundled SmolLM2-135M, or the user's) is found and verified by :mod:`.files`,
  then loaded as :mod:`.runtime` prepares it (by default the bundled weights re-encoded as
  Q8_0), with flash attention on (``model_runtime``, ``flash_attn``).
* The prompt is the GGUF's own chat template rendered with ``Jinja2ChatFormatter``, or ChatML
  (:mod:`.chat`); its tokens are both counted and evaluated, so budgets and generation agree.
  Special-token text inside message contents is neutralised: a source cannot end its turn.
* One long-lived ``Llama`` reuses the KV cache of the longest prefix shared with the previous
  call, or warmed in before the first (:mod:`.prefix`). Generation stops at end-of-generation
  tokens, at stop strings (never streamed) or at ``max_tokens`` (capped to fit ``n_ctx``).
* ``Llama`` is not thread-safe: every call that touches the context holds one lock behind a
  bounded queue (:class:`ModelGate`) that raises :class:`BusyError` instead of hanging.
* Threads: ``n_threads`` if set, else re-decided before each call (:mod:`.threads`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import ModelError
from assistant.files import cpu_threads
from assistant.llm.chat import (
    GENERATION_ERRORS,
    PromptCache,
    chatml,
    end_tokens,
    error_hint,
    neutralise,
    pick_formatter,
)
from assistant.llm.files import DEFAULT_MODEL_SHA256, default_model_path, verify_model
from assistant.llm.prefix import Warmup, reused_prefix, shared_prefix
from assistant.llm.runtime import (
    BUNDLED_RUNTIME_SHA256,
    RUNTIME_FTYPES,
    RuntimeFile,
    prepare,
    resolve_kind,
)
from assistant.llm.stream import (
    CallbackError,
    LLMStats,
    ModelGate,
    RepetitionGuard,
    TraceEntry,
    consume,
)
from assistant.llm.threads import ThreadPolicy, quick_gil_handoff
from assistant.protocols import Generation, Message

if TYPE_CHECKING:
    from assistant.config import Settings


class LocalLLM:
    """ChatModel over a local GGUF via llama-cpp-python. Loads lazily on first use."""

    def __init__(self, settings: Settings, *, pinned_sha256: str = DEFAULT_MODEL_SHA256) -> None:
        self._settings = settings
        if settings.model_path is None:
            self.model_path = default_model_path()
            self._expected_sha256: str | None = pinned_sha256
            self.bundled = True
        else:
            self.model_path = Path(settings.model_path).expanduser()
            self._expected_sha256 = settings.model_sha256
            self.bundled = False
            if not self.model_path.is_file():
                raise ModelError(f"model file not found: {self.model_path}")
        self.name: str = self.model_path.stem
        self.n_ctx: int = settings.n_ctx
        self.threads = ThreadPolicy(settings.n_threads)  # fixed, or re-decided per call
        self.n_threads: int = self.threads.current
        self.load_s: float | None = None  # seconds the Llama constructor took
        self.runtime_kind = resolve_kind(settings.model_runtime, bundled=self.bundled)
        self.runtime: RuntimeFile | None = None  # the file actually loaded (after load)
        self.runtime_note = "not loaded"
        self.hash_s: float | None = None  # seconds the sha256 verification took
        self.template_source = "not loaded"
        self._gate = ModelGate(settings.queue_size)
        self._load_lock = threading.Lock()
        self._sha256: str | None = None
        self._llama: Any = None
        self._vocab: Any = None
        self._formatter: Callable[[list[Message]], str] = chatml
        self._stop_ids: frozenset[int] = frozenset()
        self._stop_texts: tuple[str, ...] = ()
        self._bos_id = -1
        # messages -> prompt tokens: budgeting, retries and generation share one tokenisation
        self._prompt_cache = PromptCache()
        self._warm = Warmup()  # the prefix warm-up (warm_prefix) and its first real call
        self.stop_on_repetition = True  # end a generation that loops (see RepetitionGuard)
        self.stats = LLMStats()
        self.trace: list[TraceEntry] | None = None  # set to a list to record every generation

    @property
    def sha256(self) -> str:
        """The model file's sha256, verified against the pin (or model_sha256) on first use."""
        if self._sha256 is None:
            t0 = time.perf_counter()
            digest = verify_model(self.model_path, self._expected_sha256, bundled=self.bundled)
            self.hash_s = time.perf_counter() - t0
            self._sha256 = digest
        return self._sha256

    @sha256.setter
    def sha256(self, value: str) -> None:
        # only so LocalLLM matches ChatModel, whose ``sha256`` is a plain (settable) attribute
        raise AttributeError("LocalLLM.sha256 is read-only")

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    @property
    def busy(self) -> bool:
        """True while a generation holds the model."""
        return self._gate.busy

    def load(self) -> float:
        """Verify and load the model now (normally lazy); return the load time in seconds."""
        self._ensure_loaded()
        return self.load_s or 0.0

    def _ensure_loaded(self) -> Any:
        llama = self._llama
        if llama is not None:
            return llama
        with self._load_lock:
            if self._llama is None:
                _ = self.sha256  # verify before handing the file to llama.cpp
                try:
                    from llama_cpp import Llama
                except ImportError as exc:
                    raise ModelError(f"llama-cpp-python is not installed: {exc}") from exc
                runtime = self.runtime_file()
                t0 = time.perf_counter()
                try:
                    with quick_gil_handoff():  # its callbacks need the GIL hundreds of times
                        llama = Llama(
                            model_path=str(runtime.path),
                            n_ctx=self.n_ctx,
                            n_threads=self.n_threads,
                            n_threads_batch=self.n_threads,
                            n_batch=min(self._settings.n_batch, self.n_ctx),
                            seed=self._settings.seed,
                            flash_attn=self._settings.flash_attn,
                            logits_all=False,
                            verbose=False,
                        )
                except Exception as exc:  # llama.cpp reports load failures as ValueError etc.
                    raise ModelError(f"failed to load model {self.model_path}: {exc}") from exc
                self.load_s = time.perf_counter() - t0
                self.runtime = runtime
                self._setup_template(llama)
                self._llama = llama
            return self._llama

    def runtime_file(self) -> RuntimeFile:
        """The verified file to load (a model server is started on it too); the chosen GGUF
        itself when conversion is off or fails."""
        original = RuntimeFile(self.model_path, "original", self.sha256, "")
        try:
            runtime = prepare(
                self.model_path,
                self.sha256,
                self.runtime_kind,
                self._settings.data_dir / "models",
                pinned=BUNDLED_RUNTIME_SHA256.get(self.runtime_kind) if self.bundled else None,
                convert=llama_convert,
            )
        except ModelError as exc:  # a speed-up never stops the assistant from answering
            self.runtime_note = f"{self.model_path.name} as is ({exc})"
            return original
        self.runtime_note = runtime.note
        return runtime

    def _setup_template(self, llama: Any) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._bos_id = int(llama.token_bos())
        eos_id = int(llama.token_eos())

        def special_text(token: int) -> str:
            if token < 0:
                return ""
            return bytes(llama.detokenize([token], special=True)).decode("utf-8", "replace")

        bos_text, eos_text = special_text(self._bos_id), special_text(eos_id)
        template = str(llama.metadata.get("tokenizer.chat_template") or "")
        self._formatter, self.template_source, template = pick_formatter(
            template, bos_text, eos_text, Jinja2ChatFormatter
        )

        def one_token(marker: str) -> int | None:
            ids = llama.tokenize(marker.encode("utf-8"), add_bos=False, special=True)
            return int(ids[0]) if len(ids) == 1 else None

        stop_ids, self._stop_texts = end_tokens(template, eos_text, one_token)
        self._stop_ids = frozenset(stop_ids | ({eos_id} if eos_id >= 0 else set()))

    def count_tokens(self, text: str) -> int:
        """Tokens of plain ``text`` (no BOS, special-token text counted as ordinary text)."""
        llama = self._ensure_loaded()
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _neutralise(self, llama: Any, text: str) -> str:
        """Break up any special-token text in ``text`` so it tokenises as plain text."""
        import llama_cpp

        special_attrs = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED

        def tokenize(data: bytes, special: bool) -> list[int]:
            return [int(x) for x in llama.tokenize(data, add_bos=False, special=special)]

        def special_piece(token: int) -> str | None:
            if not llama_cpp.llama_vocab_get_attr(self._vocab, token) & special_attrs:
                return None
            return bytes(llama.detokenize([token], special=True)).decode("utf-8", "replace")

        return neutralise(text, tokenize, special_piece)

    def render_prompt(self, messages: Sequence[Message]) -> str:
        """The templated prompt text for ``messages`` (contents neutralised).

        A trailing assistant message is the opener of the reply: the prompt ends with it,
        right after the generation prompt, so the model continues it.
        """
        llama = self._ensure_loaded()
        opener = ""
        if messages and messages[-1]["role"] == "assistant":
            opener = self._neutralise(llama, messages[-1]["content"])
            messages = messages[:-1]
        clean: list[Message] = [
            {"role": m["role"], "content": self._neutralise(llama, m["content"])} for m in messages
        ]
        try:
            return self._formatter(clean) + opener
        except Exception as exc:  # e.g. the template's raise_exception on role order
            raise ModelError(f"the chat template rejected the messages: {exc}") from exc

    def _encode_prompt(self, llama: Any, prompt: str) -> list[int]:
        tokens = [
            int(t) for t in llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        ]
        if len(tokens) >= 2 and tokens[0] == tokens[1] == self._bos_id:
            tokens = tokens[1:]  # the template wrote BOS itself and the tokenizer added another
        return tokens

    def prompt_token_ids(self, messages: Sequence[Message]) -> list[int]:
        """The prompt tokens for ``messages``; repeated calls with equal messages are cached."""
        llama = self._ensure_loaded()
        cached = self._prompt_cache.get(messages)
        if cached is not None:
            return cached
        tokens = self._encode_prompt(llama, self.render_prompt(messages))
        self._prompt_cache.put(messages, tokens)
        return tokens

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Exactly the tokens :meth:`generate` will feed the model for ``messages``."""
        return len(self.prompt_token_ids(messages))

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Generation:
        """One chat completion under the model lock; ``on_token`` receives streamed pieces."""
        tokens = self.prompt_token_ids(messages)
        return self._generate_tokens(tokens, max_tokens, stop, temperature, seed, on_token)

    def warm_prefix(self, prompts: Sequence[Sequence[Message]], *, threads: int = 1) -> int:
        """:func:`.prefix.warm` with the tokens all ``prompts`` start with, if the model is free."""
        llama = self._ensure_loaded()
        prefix = shared_prefix([self._encode_prompt(llama, self.render_prompt(m)) for m in prompts])
        with self._gate.hold_if_free() as free:  # never keeps a real call waiting to start
            return self._warm.run(llama, prefix, threads, self.n_threads) if free else 0

    def generate_raw_prompt(
        self,
        prompt: str,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Generation:
        """Complete a raw prompt string (special-token text in it is parsed; for benchmarks)."""
        llama = self._ensure_loaded()
        tokens = self._encode_prompt(llama, prompt)
        return self._generate_tokens(tokens, max_tokens, stop, temperature, seed, on_token)

    def _generate_tokens(
        self,
        tokens: list[int],
        max_tokens: int,
        stop: Sequence[str],
        temperature: float,
        seed: int | None,
        on_token: Callable[[str], None] | None,
    ) -> Generation:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        n_prompt = len(tokens)
        if n_prompt >= self.n_ctx:
            raise ModelError(
                f"the prompt is {n_prompt} tokens but the context window is {self.n_ctx}; "
                "shorten the sources or raise n_ctx"
            )
        budget = min(max_tokens, self.n_ctx - n_prompt)
        stops = [s for s in (*stop, *self._stop_texts) if s]
        llama = self._ensure_loaded()
        with self._gate.hold():
            if (n := self.threads.decide()) != self.n_threads:
                llama._ctx.set_n_threads(n, n)  # llama_set_n_threads on the live context
                self.n_threads = n
            try:
                return self._decode(llama, tokens, budget, stops, temperature, seed, on_token)
            except CallbackError as exc:  # the caller's own on_token failed: not a model error
                raise exc.original from None
            except GENERATION_ERRORS as exc:
                llama.reset()  # the context may be half-evaluated: start clean next time
                raise ModelError(f"generation failed: {error_hint(exc)}") from exc

    def _decode(
        self,
        llama: Any,
        tokens: list[int],
        budget: int,
        stops: list[str],
        temperature: float,
        seed: int | None,
        on_token: Callable[[str], None] | None,
    ) -> Generation:
        import llama_cpp

        vocab, stop_ids = self._vocab, self._stop_ids

        def is_end(token: int) -> bool:
            return token in stop_ids or bool(llama_cpp.llama_vocab_is_eog(vocab, token))

        def piece(token: int) -> bytes:
            return bytes(llama.detokenize([token]))

        emit: Callable[[str], None] | None = None
        if on_token is not None:
            callback = on_token

            def emit(text: str) -> None:
                try:
                    callback(text)
                except Exception as exc:
                    raise CallbackError(exc) from exc

        seed_used = self._settings.seed if seed is None else seed
        llama.set_seed(seed_used)
        self._warm.settle(llama, tokens)
        reused = reused_prefix(llama, tokens)
        sampled: list[int] = []

        def recorded(stream: Iterator[int]) -> Iterator[int]:
            for token in stream:
                sampled.append(token)
                yield token

        guard = RepetitionGuard() if self.stop_on_repetition else None
        t0 = time.perf_counter()
        stream = llama.generate(
            tokens,
            temp=temperature,
            top_k=40,
            top_p=0.95,
            min_p=0.05,
            repeat_penalty=1.0,
            reset=True,  # lets llama-cpp-python keep the KV cache of the shared prefix
        )
        try:
            result = consume(
                recorded(stream),
                piece=piece,
                is_end=is_end,
                budget=budget,
                stops=stops,
                on_token=emit,
                guard=guard,
            )
        finally:
            stream.close()
        t_end = time.perf_counter()
        t_first = t_end if result.t_first is None else result.t_first
        self.stats.add(len(tokens), reused, result, t_first - t0, t_end - t_first)
        entry = TraceEntry(tuple(tokens), reused, tuple(sampled), temperature, seed_used)
        if self.trace is not None:
            self.trace.append(entry)
        return Generation(
            text=result.text,
            prompt_tokens=len(tokens),
            completion_tokens=result.n_tokens,
            prefill_s=t_first - t0,
            decode_s=t_end - t_first,
            finish_reason=result.finish_reason,
        )

    def close(self) -> None:
        """Free the model (it reloads on next use)."""
        with self._gate.hold(), self._load_lock:
            llama, self._llama = self._llama, None
            if llama is not None:
                llama.close()


def system_info() -> str:
    """What llama.cpp was built for ("CPU : SSE3 = 1 | AVX2 = 1 | ..."), for `assistant doctor`."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)


def llama_convert(source: Path, target: Path, kind: str) -> None:
    """Re-encode ``source``'s weights as ``kind`` into ``target`` with llama.cpp's quantizer."""
    import llama_cpp
    from llama_cpp import _logger

    _logger.set_verbose(False)  # the quantizer logs every tensor at INFO level
    params = llama_cpp.llama_model_quantize_default_params()
    # any llama.cpp file type works here (benchmarks/model_formats.py tries others)
    params.ftype = getattr(
        llama_cpp, RUNTIME_FTYPES.get(kind, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    )
    params.allow_requantize = True  # the source is itself quantized
    params.nthread = cpu_threads()
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if rc != 0:
        raise ModelError(f"llama.cpp could not convert {source} to {kind} (code {rc})")
