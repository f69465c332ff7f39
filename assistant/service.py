"""The composition root: the one place that picks concrete adapters.

:class:`Assistant` is library + retriever + model as one object, shared by the CLI, UI and
evals. Everything heavy is created lazily and can be injected (tests pass the doubles of
:mod:`assistant.testing`); otherwise the embedded Chroma store, the MiniLM embedder and the
in-process llama.cpp model are used, or, when ``chroma_url`` / ``llm_base_url`` are set, a
Chroma server (with the TL;DRs kept there too) and an OpenAI-compatible model server
(docs/DEPLOY.md).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from assistant import grounding, prompting
from assistant.answer import answer_question
from assistant.batch import run_tldr_batch
from assistant.check import CheckReport, check_text
from assistant.config import Settings, TldrConfig
from assistant.context import answer_prefix_probes
from assistant.journal import TldrJournal
from assistant.library import Library
from assistant.protocols import (
    ChatModel,
    Embedder,
    Message,
    PrefixWarmer,
    StoreBackend,
    TldrStore,
    VectorStore,
)
from assistant.retrieve import Retriever
from assistant.tldr import write_tldr
from assistant.turns import Turns
from assistant.types import Answer, Paper, Tldr

T = TypeVar("T")
SENTENCE_CACHE = 20_000  # embedded source sentences kept per process (about 30 MB)


def default_embedder(settings: Settings) -> Embedder:
    from assistant.embedding.minilm import MiniLMEmbedder

    return MiniLMEmbedder(
        batch_size=settings.embed_batch_size,
        runtime=settings.embedder_runtime,
        cache_dir=settings.data_dir / "models",
        threads=settings.n_threads,
    )


def default_model(settings: Settings) -> ChatModel:
    if settings.llm_base_url:
        from assistant.llm.openai_compat import OpenAICompatLLM

        return OpenAICompatLLM(settings)
    from assistant.llm.llama import LocalLLM

    return LocalLLM(settings)


def store_backend(settings: Settings) -> StoreBackend:
    from vectorstore.chroma import ChromaBackend

    if settings.chroma_url:
        token = settings.chroma_token.get_secret_value() if settings.chroma_token else None
        return ChromaBackend(settings.chroma_url, token, settings.chroma_timeout_s)
    return ChromaBackend()


def tldr_journal(settings: Settings, store: VectorStore) -> TldrStore:
    """The data dir's journal file, or, for a store on a Chroma server, a collection on that
    server, so every process using the server sees the same TL;DRs."""
    from vectorstore.chroma import ChromaStore

    if settings.chroma_url and isinstance(store, ChromaStore) and store.url:
        from vectorstore.tldrs import ChromaTldrs

        return ChromaTldrs(store)
    return TldrJournal(settings.tldr_file)


def open_library(
    settings: Settings,
    *,
    write: bool = False,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    check: bool = True,
    embedder_factory: Callable[[Settings], Embedder] = default_embedder,
) -> Library:
    """The data dir's library with the default adapters (or the injected ones)."""
    return Library(
        settings,
        write=write,
        embedder=embedder,
        store=store,
        backend=None if store is not None else store_backend(settings),
        embedder_factory=embedder_factory,
        check=check,
    )


class _Preloaded(Generic[T]):
    """``make()`` run in a daemon thread from the start; :meth:`get` waits for its value. A
    failure is kept quiet there: :meth:`get` then calls ``make()`` itself, so the error is
    raised (with its context) where the value is needed, as if nothing had been preloaded."""

    def __init__(self, name: str, make: Callable[[], T]) -> None:
        self._make = make
        self._made: list[T] = []
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):
            self._made.append(self._make())

    def get(self) -> T:
        self.thread.join()
        return self._made[0] if self._made else self._make()


class Assistant:
    def __init__(
        self,
        settings: Settings,
        *,
        write: bool = False,
        llm: ChatModel | None = None,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        preload: bool = False,
    ) -> None:
        """``preload``: start loading the model (then warming its answer-prompt prefix) and
        the embedder in background threads before the store is opened, and building the
        keyword index once it is (:meth:`preload_model`): what a cold `assistant ask` waits
        for, overlapped. :meth:`close` joins those threads."""
        self.settings = settings
        self._llm = llm
        self._background: list[threading.Thread] = []
        embedder_factory: Callable[[Settings], Embedder] = default_embedder
        try:
            if preload:
                self._background.append(self.preload_model())
                if embedder is None:
                    made = _Preloaded("embedder-preload", lambda: default_embedder(settings))
                    self._background.append(made.thread)
                    embedder_factory = lambda _: made.get()  # noqa: E731
            self.library = open_library(
                settings,
                write=write,
                embedder=embedder,
                store=store,
                embedder_factory=embedder_factory,
            )
        except BaseException:
            self._join_background()
            raise
        self._retriever: Retriever | None = None
        self._lazy = threading.RLock()  # memo and retriever: a preload thread may make them
        self._memo: grounding.CachingEmbedder | None = None
        self._journal: TldrStore | None = None
        # questions go before the next paper of a TL;DR batch running in another thread
        self.turns = Turns()
        if preload:
            self._background.append(self._in_background("index-preload", self._build_index))

    # ---- collaborators -----------------------------------------------------------------
    @property
    def llm(self) -> ChatModel:
        if self._llm is None:
            self._llm = default_model(self.settings)
        return self._llm

    @property
    def embedder(self) -> Embedder:
        return self.library.embedder

    def preload_model(self) -> threading.Thread:
        """Start loading the model in the background and return the thread (join it before
        exiting): a cold `assistant ask` opens the store and retrieves meanwhile. Once loaded,
        a model that can (:class:`PrefixWarmer`) evaluates the prefix every answer prompt
        starts with, on one thread (the caller's keeps the other core busy meanwhile)."""
        llm = self.llm  # created here, not raced by the thread

        def run() -> None:
            # a failed load is retried, and reported with its context, by the first model call
            llm.load()
            if isinstance(llm, PrefixWarmer):
                llm.warm_prefix(answer_prefix_probes(), threads=1)

        return self._in_background("model-preload", run)

    @staticmethod
    def _in_background(name: str, run: Callable[[], object]) -> threading.Thread:
        """``run`` in a started daemon thread; its exceptions are dropped (what it prepares is
        made again, and any error reported, by the first foreground use)."""

        def quiet() -> None:
            with contextlib.suppress(Exception):
                run()

        thread = threading.Thread(target=quiet, name=name, daemon=True)
        thread.start()
        return thread

    def _build_index(self) -> None:
        self.retriever.prepare()

    def _join_background(self) -> None:
        for thread in self._background:
            thread.join()  # never exit while llama.cpp is mid-load
        self._background.clear()

    def warm_up(self) -> None:
        """Load the embedder and the model now, so the first answer is fast."""
        self.embedder.embed(["warm up"])
        self.llm.load()

    @property
    def memo(self) -> grounding.CachingEmbedder:
        """Sentence vectors shared by every question and TL;DR of this process: abstracts
        retrieved or summarised again are not re-embedded."""
        with self._lazy:
            if self._memo is None:
                self._memo = grounding.CachingEmbedder(self.embedder, max_items=SENTENCE_CACHE)
            return self._memo

    @property
    def retriever(self) -> Retriever:
        with self._lazy:
            if self._retriever is None:
                s = self.settings
                self._retriever = Retriever(
                    self.library.store,
                    self.memo,
                    top_k=s.top_k,
                    candidates=s.candidates,
                    rrf_k=s.rrf_k,
                    relevance_floor=s.relevance_floor,
                )
            return self._retriever

    @property
    def journal(self) -> TldrStore:
        if self._journal is None:
            self._journal = tldr_journal(self.settings, self.library.store)
        return self._journal

    @property
    def model_slots(self) -> int:
        """Model calls that may run at once: ``model_slots`` for a model server, else 1 (the
        in-process model has one context)."""
        return self.settings.model_slots if self.settings.llm_base_url else 1

    def provenance(self, template: str) -> dict[str, str]:
        return {
            "model_sha256": self.llm.sha256,
            "model": self.llm.name,
            "prompt_sha": prompting.template_hash(template),
            "settings_sha": self.settings.fingerprint(),
            "embedder": self.embedder.name,
        }

    # ---- questions ---------------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        history: Sequence[Message] = (),
        on_sentence: Callable[[str], None] | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        cfg = self.settings.answer_config(self.provenance("answer"))
        with self.turns.foreground_turn():
            return answer_question(
                question,
                llm=self.llm,
                retriever=self.retriever,
                history=history,
                config=cfg,
                on_sentence=on_sentence,
                on_token=on_token,
            )

    # ---- TL;DRs ------------------------------------------------------------------------
    def tldr_config(self) -> TldrConfig:
        return self.settings.tldr_config(self.provenance("tldr"))

    def tldrs(
        self,
        papers: Sequence[Paper],
        *,
        on_done: Callable[[Tldr, bool], None] | None = None,
        persist: bool = True,
        concurrency: int = 1,
    ) -> list[Tldr]:
        """TL;DRs for ``papers``; current journal entries are reused (resumable batches).

        ``on_done(record, reused)`` is called per paper, in order. ``concurrency`` > 1 keeps
        that many papers in flight (for a model server; :mod:`assistant.batch`), without the
        foreground-first turns of a one-at-a-time batch.
        """
        cfg = self.tldr_config()
        if concurrency > 1:
            return run_tldr_batch(
                papers,
                write=lambda p: write_tldr(p, llm=self.llm, embedder=self.memo, config=cfg),
                journal=self.journal,
                provenance=cfg.provenance,
                concurrency=concurrency,
                on_done=on_done,
                persist=persist,
            )
        out = []
        for paper in papers:
            if self.journal.is_current(paper, cfg.provenance):
                record = self.journal.records[paper.paper_id]
                reused = True
            else:
                with self.turns.background_turn():  # a waiting question goes first
                    record = write_tldr(paper, llm=self.llm, embedder=self.memo, config=cfg)
                reused = False
                if persist:
                    self.journal.append(record)
            out.append(record)
            if on_done:
                on_done(record, reused)
        return out

    def check(self, text: str, paper_ids: Sequence[str] = ()) -> CheckReport:
        """Judge ``text`` sentence by sentence against these papers (or, none given, the
        papers retrieval finds for each sentence) with the answerer's judge."""
        papers = [self.library.paper(i) for i in paper_ids]
        return check_text(
            text,
            papers=papers,
            retriever=None if papers else self.retriever,
            embedder=self.memo,
            threshold=self.settings.support_threshold,
        )

    def stored_tldr(self, paper_id: str) -> Tldr | None:
        return self.journal.records.get(paper_id)

    def close(self) -> None:
        self._join_background()
        self.library.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
