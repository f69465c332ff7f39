"""TL;DRs kept on the Chroma server, beside the papers, so every process sees the same ones.

With a shared store the data dir's ``tldrs.jsonl`` would be one replica's private copy: a TL;DR
written by one UI would be written again by the next. This journal has the same interface as
:class:`assistant.journal.TldrJournal` (``records``, ``is_current``, ``append``, ``forget``) and
keeps one record per paper in the collection ``<name>-tldrs``: the record's JSON as the document,
keyed by paper id, so a rerun replaces instead of duplicating and a write is one upsert (all or
nothing on the server). Rows carry a constant 1-d vector: Chroma needs one, and passing it keeps
Chroma's downloading default embedder from ever running.

Reads are cached for :data:`REFRESH_S` seconds: a papers table asks for every paper's TL;DR at
once and must not cost a round trip each, while another replica's new TL;DRs still show up
within seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from assistant.types import Paper, Tldr
from vectorstore.chroma import ChromaStore, mapped_errors

__all__ = ["REFRESH_S", "ChromaTldrs"]

REFRESH_S = 2.0
_PAGE = 5000
_VECTOR = [1.0]


class ChromaTldrs:
    """The TL;DR journal of a server store (see the module docstring)."""

    def __init__(self, store: ChromaStore, *, refresh_s: float = REFRESH_S) -> None:
        self.where, self.timeout_s = store.where, store.timeout_s
        self.refresh_s = refresh_s
        with mapped_errors(self.where, "open the TL;DR collection", self.timeout_s):
            self._collection = store.side_collection("tldrs")
        self._records: dict[str, Tldr] = {}
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    @property
    def records(self) -> Mapping[str, Tldr]:
        """Every stored TL;DR by paper id, at most ``refresh_s`` seconds old."""
        with self._lock:
            if time.monotonic() - self._read_at > self.refresh_s:
                self._records = self._read_all()
                self._read_at = time.monotonic()
            return dict(self._records)

    def _read_all(self) -> dict[str, Tldr]:
        out: dict[str, Tldr] = {}
        offset = 0
        with mapped_errors(self.where, "read TL;DRs", self.timeout_s):
            while True:
                got: Any = self._collection.get(include=["documents"], limit=_PAGE, offset=offset)
                for doc in got["documents"] or []:
                    try:
                        record = Tldr.model_validate_json(doc)
                    except ValueError:
                        continue  # written by an incompatible version: regenerated when asked
                    out[record.paper_id] = record
                if len(got["ids"]) < _PAGE:
                    return out
                offset += _PAGE

    def is_current(self, paper: Paper, provenance: dict[str, str]) -> bool:
        rec = self.records.get(paper.paper_id)
        if rec is None:
            return False
        wanted = provenance | {"content_hash": paper.content_hash}
        return all(rec.provenance.get(k) == v for k, v in wanted.items())

    def append(self, record: Tldr) -> None:
        with mapped_errors(self.where, "write a TL;DR", self.timeout_s):
            self._collection.upsert(
                ids=[record.paper_id],
                embeddings=[_VECTOR],
                documents=[record.model_dump_json()],
                metadatas=[{"paper_id": record.paper_id, "method": record.method}],
            )
        with self._lock:
            self._records[record.paper_id] = record

    def forget(self, keep: Iterable[str]) -> None:
        keep_set = set(keep)
        drop = [k for k in self.records if k not in keep_set]
        if not drop:
            return
        with mapped_errors(self.where, "delete TL;DRs", self.timeout_s):
            for s in range(0, len(drop), 500):
                self._collection.delete(ids=drop[s : s + 500])
        with self._lock:
            self._records = {k: v for k, v in self._records.items() if k in keep_set}
