"""The composition root: the one place that picks concrete adapters.

:class:`Assistant` is library + retriever + model as one object, shared by the CLI, UI and
evals. Everything heavy is created lazily and can be injected (tests pass the doubles of
:mod:`assistant.testing`); otherwise the embedded Chroma store, the MiniLM embedder and the
in-process llama.cpp model are used.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence

from assistant import grounding, prompting
from assistant.answer import answer_question
from assistant.config import Settings, TldrConfig
from assistant.journal import TldrJournal
from assistant.library import Library
from assistant.protocols import ChatModel, Embedder, Message, StoreBackend, VectorStore
from assistant.retrieve import Retriever
from assistant.tldr import write_tldr
from assistant.types import Answer, Paper, Tldr

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
    from assistant.llm.llama import LocalLLM

    return LocalLLM(settings)


def store_backend(settings: Settings) -> StoreBackend:
    from vectorstore.chroma import ChromaBackend

    return ChromaBackend()


def open_library(
    settings: Settings,
    *,
    write: bool = False,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    check: bool = True,
) -> Library:
    """The data dir's library with the default adapters (or the injected ones)."""
    return Library(
        settings,
        write=write,
        embedder=embedder,
        store=store,
        backend=None if store is not None else store_backend(settings),
        embedder_factory=default_embedder,
        check=check,
    )


class Assistant:
    def __init__(
        self,
        settings: Settings,
        *,
        write: bool = False,
        llm: ChatModel | None = None,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
    ) -> None:
        self.settings = settings
        self.library = open_library(settings, write=write, embedder=embedder, store=store)
        self._llm = llm
        self._retriever: Retriever | None = None
        self._memo: grounding.CachingEmbedder | None = None
        self._journal: TldrJournal | None = None

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
        exiting): a cold `assistant ask` loads the embedder and retrieves meanwhile."""
        llm = self.llm  # created here, not raced by the thread

        def run() -> None:
            # a failed load is retried, and reported with its context, by the first model call
            with contextlib.suppress(Exception):
                llm.load()

        thread = threading.Thread(target=run, name="model-preload", daemon=True)
        thread.start()
        return thread

    def warm_up(self) -> None:
        """Load the embedder and the model now, so the first answer is fast."""
        self.embedder.embed(["warm up"])
        self.llm.load()

    @property
    def memo(self) -> grounding.CachingEmbedder:
        """Sentence vectors shared by every question and TL;DR of this process: abstracts
        retrieved or summarised again are not re-embedded."""
        if self._memo is None:
            self._memo = grounding.CachingEmbedder(self.embedder, max_items=SENTENCE_CACHE)
        return self._memo

    @property
    def retriever(self) -> Retriever:
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
    def journal(self) -> TldrJournal:
        if self._journal is None:
            self._journal = TldrJournal(self.settings.tldr_file)
        return self._journal

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
    ) -> list[Tldr]:
        """TL;DRs for ``papers``; current journal entries are reused (resumable batches).

        ``on_done(record, reused)`` is called per paper, in order.
        """
        cfg = self.tldr_config()
        out = []
        for paper in papers:
            if self.journal.is_current(paper, cfg.provenance):
                record = self.journal.records[paper.paper_id]
                reused = True
            else:
                record = write_tldr(paper, llm=self.llm, embedder=self.memo, config=cfg)
                reused = False
                if persist:
                    self.journal.append(record)
            out.append(record)
            if on_done:
                on_done(record, reused)
        return out

    def stored_tldr(self, paper_id: str) -> Tldr | None:
        return self.journal.records.get(paper_id)

    def close(self) -> None:
        self.library.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
