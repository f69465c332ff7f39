"""The Chroma adapter: the only module that imports chromadb.

Two collections: ``<name>`` holds chunks (what retrieval searches) and ``<name>-papers`` holds
one record per paper (title, abstract, metadata, content hash). A paper record is written only
after all its chunks, so it acts as the commit marker: chunks without a paper record are leftovers
of an interrupted ingest, hidden from search and replaced on the next run.

Embeddings are always passed explicitly; Chroma's own default embedding function downloads a
model and must never run. ``embedding_function=None`` does not switch it off (chromadb 1.5 falls
back to it whenever documents or query texts arrive without vectors), so every write and query
here carries vectors; tests/test_ingest.py fails if the default one is ever constructed.

Errors: chromadb and sqlite raise many kinds; :func:`mapped_errors` turns the ones a user can
cause or meet (a full or read-only disk, a collection deleted by another process) into a
``StoreError`` naming the store, by a table where the most specific class wins. Anything not in
the table is a bug and propagates unchanged.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from numpy.typing import NDArray

from assistant.errors import StoreError
from assistant.protocols import VectorStore
from assistant.types import Chunk, Hit, Paper

__all__ = ["ChromaBackend", "ChromaStore", "chromadb_version", "error_table", "mapped_errors"]

_SPACE = {"hnsw:space": "cosine"}
# Whole-collection reads go in pages: one get() of ~100k records fails inside Chroma with
# "too many SQL variables".
_PAGE = 5000


def chromadb_version() -> str:
    import chromadb

    return str(chromadb.__version__)


def error_table() -> list[tuple[type[BaseException], str]]:
    """(exception class, what to tell the user); the most specific matching class wins."""
    from chromadb import errors as ce

    return [
        (ce.ChromaError, "Chroma failed"),
        (
            ce.NotFoundError,
            "a collection is missing (deleted by another process?); run the "
            "command again, or `assistant reindex`",
        ),
        (ce.InvalidArgumentError, "Chroma refused the request"),
        (sqlite3.OperationalError, "the store's database failed (disk full, read-only or locked?)"),
        (
            sqlite3.DatabaseError,
            "the store's database is damaged; `assistant reindex` rebuilds "
            "it from the stored abstracts",
        ),
        (OSError, "cannot read or write the store"),
    ]


@contextmanager
def mapped_errors(where: object, op: str) -> Iterator[None]:
    """Re-raise mapped library errors as StoreError("<op> at <where>: <hint> (<detail>)")."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        matches = [(cls, hint) for cls, hint in error_table() if isinstance(exc, cls)]
        if not matches:
            raise
        _, hint = max(matches, key=lambda m: len(m[0].__mro__))
        raise StoreError(f"{op} failed at {where}: {hint} ({exc})") from exc


P = ParamSpec("P")
R = TypeVar("R")


def _store_op(
    fn: Callable[Concatenate[ChromaStore, P], R],
) -> Callable[Concatenate[ChromaStore, P], R]:
    op = fn.__name__.replace("_", " ")

    def wrapper(store: ChromaStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with mapped_errors(store.where, op):
            return fn(store, *args, **kwargs)

    functools.update_wrapper(wrapper, fn)
    return wrapper


class ChromaBackend:
    """Opens embedded Chroma stores (a directory, or memory when ``path`` is None)."""

    def version(self) -> str:
        return chromadb_version()

    def open(self, path: Path | None, collection: str) -> VectorStore:
        return ChromaStore(path, collection)


def _client(path: Path | None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if path is None:
        return chromadb.EphemeralClient(settings=chroma_settings)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _paper_meta(p: Paper) -> dict[str, Any]:
    return {
        "paper_id": p.paper_id,
        "title": p.title,
        "authors": json.dumps(p.authors),
        "n_authors": p.n_authors if p.n_authors is not None else -1,
        "published": p.published.isoformat() if p.published else "",
        "url": p.url or "",
        "source": p.source,
        "content_hash": p.content_hash,
    }


def _paper_from(doc: str, meta: dict[str, Any]) -> Paper:
    n_authors = int(meta.get("n_authors", -1))
    published = str(meta.get("published") or "")
    return Paper(
        paper_id=str(meta["paper_id"]),
        title=str(meta["title"]),
        abstract=doc,
        authors=list(json.loads(str(meta.get("authors") or "[]"))),
        n_authors=None if n_authors < 0 else n_authors,
        published=date.fromisoformat(published) if published else None,
        url=str(meta.get("url") or "") or None,
        source=str(meta.get("source") or ""),
        content_hash=str(meta.get("content_hash") or ""),
    )


def _authors_label(meta: dict[str, Any]) -> str:
    names = json.loads(str(meta.get("authors") or "[]"))
    n = int(meta.get("n_authors", -1))
    if names:
        return ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")
    return f"{n} authors" if n > 0 else ""


class ChromaStore:
    """Chunks and papers in one Chroma database; returns our own types only."""

    def __init__(self, path: Path | None, collection: str = "papers") -> None:
        self.path = path
        try:
            self._client = _client(path)
            self._chunks = self._client.get_or_create_collection(
                collection, metadata=_SPACE, embedding_function=None
            )
            self._papers = self._client.get_or_create_collection(
                collection + "-papers", metadata=_SPACE, embedding_function=None
            )
        except Exception as exc:  # chromadb raises many kinds; the user needs one message
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        self.name = collection
        self.where = str(path) if path is not None else "the in-memory store"
        self.max_batch = int(self._client.get_max_batch_size())
        # Bumped by every write through this object, so readers in the same process (the
        # keyword index) know when to rebuild without asking Chroma for counts on every query.
        self.generation = 0

    # ---- writing -------------------------------------------------------------------------
    @_store_op
    def write_papers(
        self,
        items: Sequence[tuple[Paper, Sequence[Chunk], NDArray[np.float32]]],
    ) -> int:
        """Replace each paper's chunks, then write its paper record (the commit marker)."""
        if not items:
            return 0
        ids = [p.paper_id for p, _, _ in items]
        self._delete_chunks(ids)
        chunk_ids: list[str] = []
        vecs: list[NDArray[np.float32]] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
        paper_vecs: list[list[float]] = []
        for paper, chunks, emb in items:
            base = _paper_meta(paper)
            for chunk, vec in zip(chunks, emb, strict=True):
                chunk_ids.append(chunk.chunk_id)
                vecs.append(vec)
                docs.append(chunk.text)
                metas.append(
                    base | {"chunk_index": chunk.index, "start": chunk.start, "end": chunk.end}
                )
            mean = emb.mean(axis=0)
            paper_vecs.append((mean / max(float(np.linalg.norm(mean)), 1e-12)).tolist())
        for s in range(0, len(chunk_ids), self.max_batch):
            self._chunks.upsert(
                ids=chunk_ids[s : s + self.max_batch],
                embeddings=[v.tolist() for v in vecs[s : s + self.max_batch]],
                documents=docs[s : s + self.max_batch],
                metadatas=metas[s : s + self.max_batch],
            )
        papers = [p for p, _, _ in items]
        for s in range(0, len(papers), self.max_batch):
            part = papers[s : s + self.max_batch]
            self._papers.upsert(
                ids=[p.paper_id for p in part],
                embeddings=paper_vecs[s : s + self.max_batch],
                documents=[p.abstract for p in part],
                metadatas=[_paper_meta(p) for p in part],
            )
        self.generation += 1
        return len(chunk_ids)

    def _delete_chunks(self, paper_ids: Sequence[str]) -> None:
        for s in range(0, len(paper_ids), 500):
            self._chunks.delete(where={"paper_id": {"$in": list(paper_ids[s : s + 500])}})

    @_store_op
    def delete_paper(self, paper_id: str) -> bool:
        found = bool(self._papers.get(ids=[paper_id])["ids"])
        # Paper record first: a crash between the two leaves orphan chunks, which are hidden.
        self._papers.delete(ids=[paper_id])
        self._delete_chunks([paper_id])
        self.generation += 1
        return found

    @_store_op
    def drop(self) -> None:
        for name in (self.name, self.name + "-papers"):
            self._client.delete_collection(name)
        self.generation += 1

    def reopen(self) -> ChromaStore:
        return ChromaStore(self.path, self.name)

    # ---- reading -------------------------------------------------------------------------
    @staticmethod
    def _get_all(collection: Any, include: list[str]) -> dict[str, list[Any]]:
        """Every record of ``collection`` (ids plus ``include`` fields), read page by page."""
        out: dict[str, list[Any]] = {"ids": [], **{k: [] for k in include}}
        offset = 0
        while True:
            got = collection.get(include=include, limit=_PAGE, offset=offset)
            for key in out:
                out[key].extend(got[key] or [])
            if len(got["ids"]) < _PAGE:
                return out
            offset += _PAGE

    @_store_op
    def hashes(self) -> dict[str, str]:
        got = self._get_all(self._papers, ["metadatas"])
        return {
            i: str(m.get("content_hash", ""))
            for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    @_store_op
    def papers(self) -> list[Paper]:
        got = self._get_all(self._papers, ["documents", "metadatas"])
        docs = got["documents"] or []
        metas = got["metadatas"] or []
        return [_paper_from(d, dict(m)) for d, m in zip(docs, metas, strict=True)]

    @_store_op
    def get_paper(self, paper_id: str) -> Paper | None:
        got = self._papers.get(ids=[paper_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        return _paper_from((got["documents"] or [""])[0], dict((got["metadatas"] or [{}])[0]))

    @_store_op
    def count_papers(self) -> int:
        return int(self._papers.count())

    @_store_op
    def count_chunks(self) -> int:
        return int(self._chunks.count())

    @_store_op
    def all_chunks(self) -> list[Hit]:
        """Every committed chunk (for the keyword index); orphans are left out."""
        got = self._get_all(self._chunks, ["documents", "metadatas"])
        committed = self.committed_ids()
        hits = self._to_hits(got["ids"], got["documents"] or [], got["metadatas"] or [], None)
        return [h for h in hits if h.paper_id in committed]

    @_store_op
    def query(self, vector: NDArray[np.float32], n: int) -> list[Hit]:
        # chromadb 1.5 returns what it has when n exceeds the collection (no count round trip,
        # which costs ~15 ms per query at 100k chunks)
        res = self._chunks.query(
            query_embeddings=[vector.tolist()],
            n_results=n,
            include=["documents", "metadatas", "distances"],
        )
        dists = (res["distances"] or [[]])[0]
        return self._to_hits(
            res["ids"][0], (res["documents"] or [[]])[0], (res["metadatas"] or [[]])[0], dists
        )

    @_store_op
    def committed_ids(self) -> set[str]:
        return set(self._get_all(self._papers, [])["ids"])

    @staticmethod
    def _to_hits(
        ids: Iterable[str],
        docs: Sequence[str],
        metas: Sequence[Any],
        dists: Sequence[float] | None,
    ) -> list[Hit]:
        hits = []
        for i, (cid, doc, meta) in enumerate(zip(ids, docs, metas, strict=True)):
            sim = None if dists is None else 1.0 - float(dists[i])
            hits.append(
                Hit(
                    chunk_id=cid,
                    paper_id=str(meta["paper_id"]),
                    title=str(meta["title"]),
                    text=doc,
                    score=sim if sim is not None else 0.0,
                    dense=sim,
                    published=str(meta.get("published") or "") or None,
                    url=str(meta.get("url") or "") or None,
                    authors=_authors_label(dict(meta)) or None,
                )
            )
        return hits
