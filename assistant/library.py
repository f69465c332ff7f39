"""The indexed library: one object the CLI and the UI share.

It owns the settings, the data-dir lock (none for a store on a server), the store and (lazily)
the embedder. It types against
the store and embedder Protocols; assistant/service.py passes the concrete ones (and tests pass
fakes or an in-memory store).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from assistant.config import Settings
from assistant.datadir import (
    DataDirLock,
    check_manifest,
    compare_manifest,
    expected_manifest,
    read_manifest,
    stamped,
    write_manifest,
)
from assistant.errors import InputError, StoreError
from assistant.files import atomic_write_text
from assistant.ingest import dedupe, ingest_papers
from assistant.protocols import Embedder, StoreBackend, VectorStore
from assistant.types import IngestReport, Paper, Rejection

ProgressFactory = Callable[[int, str], Callable[[int], None]]


class Library:
    def __init__(
        self,
        settings: Settings,
        *,
        write: bool = False,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        backend: StoreBackend | None = None,
        embedder_factory: Callable[[Settings], Embedder] | None = None,
        check: bool = True,
    ) -> None:
        """Either ``store`` (used as it is, no lock) or ``backend`` (opens the data dir's store
        under the data-dir lock, after checking its manifest; a shared backend's store, a
        server, without the lock and with the manifest it keeps itself) must be given."""
        self.settings = settings
        self.write = write
        self._embedder = embedder
        self._embedder_factory = embedder_factory
        self._embedder_lock = threading.Lock()
        self._backend = backend
        self.shared = bool(backend is not None and store is None and backend.shared)
        self._lock: DataDirLock | None = None
        if store is None:
            if backend is None:
                raise TypeError("Library needs a store or a backend (see assistant.service)")
            if self.shared:
                store = backend.open(settings.store_dir, settings.collection)
                if check:
                    compare_manifest(store.read_manifest(), self._expected(), self.where(store))
            else:
                store = self._open_locked(backend, write=write, check=check)
        self.store = store

    def _open_locked(self, backend: StoreBackend, *, write: bool, check: bool) -> VectorStore:
        self._lock = DataDirLock(self.settings.data_dir, exclusive=write).acquire()
        try:
            if check:
                check_manifest(self.settings.data_dir, self._expected())
            return backend.open(self.settings.store_dir, self.settings.collection)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def where(store: VectorStore) -> str:
        """How messages name ``store``: its directory, or the server it lives on."""
        return str(getattr(store, "where", None) or store.path or store.name)

    def _manifest(self) -> dict[str, Any] | None:
        if self.shared:
            return self.store.read_manifest()
        return read_manifest(self.settings.data_dir)

    def _write_manifest(self) -> None:
        if self.shared:
            self.store.write_manifest(stamped(self._expected()))
        else:
            write_manifest(self.settings.data_dir, self._expected())

    def _expected(self) -> dict[str, object]:
        from assistant.embedding.weights import EMBEDDER_DIM, EMBEDDER_NAME

        name = self._embedder.name if self._embedder is not None else EMBEDDER_NAME
        dim = self._embedder.dim if self._embedder is not None else EMBEDDER_DIM
        version = self._backend.version() if self._backend is not None else "unknown"
        return expected_manifest(name, dim, version)

    @property
    def embedder(self) -> Embedder:
        with self._embedder_lock:  # made once, whichever thread asks first
            if self._embedder is None:
                if self._embedder_factory is None:
                    raise TypeError("Library needs an embedder or an embedder_factory")
                self._embedder = self._embedder_factory(self.settings)
            return self._embedder

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------
    def ingest(
        self,
        papers: Sequence[Paper],
        *,
        rejected: Sequence[Rejection] = (),
        progress: ProgressFactory | None = None,
        source_of: Callable[[Paper], str] = lambda p: p.source,
    ) -> IngestReport:
        self._require_write()
        # The manifest goes first: a run killed halfway must still leave a store that says
        # which embedder wrote its vectors, or another embedder could open it.
        if (self.shared or self.store.path is not None) and self._manifest() is None:
            self._write_manifest()
        unique, dupes = dedupe(papers, source_of)
        tick = progress(len(unique), "embedding") if progress else None
        report = ingest_papers(
            unique,
            store=self.store,
            embedder=self.embedder,
            chunk_tokens=self.settings.chunk_tokens,
            chunk_overlap=self.settings.chunk_overlap,
            progress=tick,
        )
        report.rejected = [*rejected, *dupes]
        return report

    def delete(self, paper_id: str) -> bool:
        self._require_write()
        return self.store.delete_paper(paper_id)

    def reindex(self, progress: ProgressFactory | None = None) -> IngestReport:
        """Rebuild chunks and vectors from the stored abstracts with the current embedder."""
        self._require_write()
        # A backup left by an interrupted reindex holds papers the store may no longer have.
        merged = {p.paper_id: p for p in recover_reindex_backup(self.settings)}
        merged.update((p.paper_id, p) for p in self.store.papers())
        papers = list(merged.values())
        # Keep a copy of the abstracts outside Chroma until the rebuild has finished.
        backup = self.settings.data_dir / "reindex-backup.jsonl"
        atomic_write_text(backup, "".join(p.model_dump_json() + "\n" for p in papers))
        self.store.drop()
        self.store = self.store.reopen()  # in memory stays in memory
        report = self.ingest(papers, progress=progress)
        self._write_manifest()
        backup.unlink(missing_ok=True)
        return report

    def _require_write(self) -> None:
        if not self.write:
            raise StoreError("internal: library opened read-only")

    # ---- reading -------------------------------------------------------------------------
    def papers(self) -> list[Paper]:
        return sorted(
            self.store.papers(), key=lambda p: (p.published is None, p.published, p.title)
        )

    def paper(self, paper_id: str) -> Paper:
        found = self.store.get_paper(paper_id)
        if found is None:
            raise InputError(f"no paper with id {paper_id!r}; see `assistant papers list`")
        return found

    def status(self) -> dict[str, object]:
        return {
            "data_dir": str(self.settings.data_dir),
            "store": self.where(self.store),
            "papers": self.store.count_papers(),
            "chunks": self.store.count_chunks(),
            "manifest": self._manifest(),
        }


def recover_reindex_backup(settings: Settings) -> list[Paper]:
    """Papers saved by an interrupted reindex, so nothing is lost."""
    path = settings.data_dir / "reindex-backup.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text("utf-8").split("\n")  # not splitlines(): abstracts may hold U+2028
    return [Paper.model_validate(json.loads(line)) for line in lines if line.strip()]
