"""The Chroma adapter: the only module that uses chromadb (:mod:`vectorstore.importing` imports it).

Two collections: ``<name>`` holds chunks (what retrieval searches) and ``<name>-papers`` holds
one record per paper (title, abstract, metadata, content hash). A paper record is written only
after all its chunks, so it acts as the commit marker: chunks without a paper record are leftovers
of an interrupted ingest, hidden from search and replaced on the next run.

Embeddings are always passed explicitly; Chroma's own default embedding function downloads a
model and must never run. ``embedding_function=None`` does not switch it off (chromadb 1.5 falls
back to it whenever documents or query texts arrive without vectors), so every write and query
here carries vectors; tests/test_ingest.py fails if the default one is ever constructed.

Server mode (``chroma_url``): the same layout through ``chromadb.HttpClient``. The manifest
(embedder, dimension, schema) is stored in the chunk collection's metadata instead of the data
dir, so every client of the server checks the same one; :mod:`vectorstore.tldrs` keeps the
TL;DRs in a third collection beside the two. The server serialises writes, so there is no
data-dir lock: several processes (UI replicas, ``ask``, ``ingest``) use it at once.

Errors: chromadb and sqlite raise many kinds; :func:`mapped_errors` turns the ones a user can
cause or meet (a full or read-only disk, a collection deleted by another process, a server that
is down or stops mid-write) into a ``StoreError`` naming the store (its directory or URL), by a
table where the most specific class wins. Anything not in the table is a bug and propagates
unchanged. chromadb's HTTP client lets httpx's transport errors through, so this module imports
httpx for that table, and to bound its requests by ``chroma_timeout_s`` (:func:`_http_client`).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx
import numpy as np
from numpy.typing import NDArray

from assistant.config import default
from assistant.errors import StoreError, StoreServerError
from assistant.protocols import VectorStore
from assistant.types import Chunk, Hit, Paper
from vectorstore.importing import import_chromadb
from vectorstore.records import authors_label, paper_from, paper_meta

__all__ = ["ChromaBackend", "ChromaStore", "chromadb_version", "error_table", "mapped_errors"]

_SPACE = {"hnsw:space": "cosine"}
_MANIFEST_KEY = "assistant_manifest"  # chunk-collection metadata holding the manifest (server)
# Whole-collection reads go in pages: one get() of ~100k records fails inside Chroma with
# "too many SQL variables".
_PAGE = 5000
_TIMEOUT_S: float = default("chroma_timeout_s")  # a server store's HTTP timeout


def chromadb_version() -> str:
    return str(import_chromadb().__version__)


def error_table() -> list[tuple[type[BaseException], str]]:
    """(exception class, what to tell the user); the most specific matching class wins."""
    import_chromadb()
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
        (
            ce.ChromaAuthError,
            "the Chroma server refused the credentials; check chroma_token "
            "(ASSISTANT_CHROMA_TOKEN)",
        ),
        *SERVER_ERRORS,
    ]


# A server that is down, stops mid-write or stalls: StoreServerError (exit 5), not StoreError.
SERVER_ERRORS: list[tuple[type[BaseException], str]] = [
    (httpx.TransportError, "the Chroma server failed mid-request (restart it, then run again)"),
    (httpx.ConnectError, "cannot reach the Chroma server: is it running? (check chroma_url)"),
    (httpx.TimeoutException, "the Chroma server did not answer in time"),
]


def timed_out(exc: BaseException | None) -> bool:
    """Whether an httpx timeout is ``exc`` or behind it (chromadb rewraps some as ValueError)."""
    while exc is not None and not isinstance(exc, httpx.TimeoutException):
        exc = exc.__cause__ or exc.__context__
    return exc is not None


def timeout_hint(timeout_s: float) -> str:
    return (
        f"timed out after {timeout_s:g} s (hung or overloaded?); "
        "check chroma_timeout_s (ASSISTANT_CHROMA_TIMEOUT_S)"
    )


@contextmanager
def mapped_errors(where: object, op: str, timeout_s: float | None = None) -> Iterator[None]:
    """Re-raise mapped library errors as StoreError("<op> at <where>: <hint> (<detail>)")."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if timeout_s is not None and timed_out(exc):
            raise StoreServerError(f"{op} failed at {where}: {timeout_hint(timeout_s)}") from exc
        matches = [(cls, hint) for cls, hint in error_table() if isinstance(exc, cls)]
        if not matches:
            raise
        cls, hint = max(matches, key=lambda m: len(m[0].__mro__))
        error = StoreServerError if any(cls is c for c, _ in SERVER_ERRORS) else StoreError
        raise error(f"{op} failed at {where}: {hint} ({exc})") from exc


P = ParamSpec("P")
R = TypeVar("R")


def _store_op(
    fn: Callable[Concatenate[ChromaStore, P], R],
) -> Callable[Concatenate[ChromaStore, P], R]:
    op = fn.__name__.replace("_", " ")

    def wrapper(store: ChromaStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with mapped_errors(store.where, op, store.timeout_s):
            return fn(store, *args, **kwargs)

    functools.update_wrapper(wrapper, fn)
    return wrapper


class ChromaBackend:
    """Opens Chroma stores: embedded (a directory, or memory when ``path`` is None), or on the
    server at ``url`` (then ``path`` is ignored and the store is ``shared``)."""

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout_s: float = _TIMEOUT_S
    ) -> None:
        self.url, self._token, self.timeout_s = url, token, timeout_s
        self.shared = url is not None

    def version(self) -> str:
        return chromadb_version()

    def open(self, path: Path | None, collection: str) -> VectorStore:
        return ChromaStore(
            path, collection, url=self.url, token=self._token, timeout_s=self.timeout_s
        )


def public_url(url: str) -> str:
    """``url`` without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _http_client(url: str, token: str | None, chroma_settings: Any, timeout_s: float) -> Any:
    chromadb = import_chromadb()
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        raise StoreError(f"chroma_url must be http(s)://host:port without a path, not {url}")
    if token:
        chroma_settings.chroma_client_auth_provider = (
            "chromadb.auth.token_authn.TokenAuthClientProvider"
        )
        chroma_settings.chroma_client_auth_credentials = token
    ssl = parts.scheme == "https"
    host, port = parts.hostname or "localhost", parts.port or (443 if ssl else 8000)
    # HttpClient() sends unbounded requests before it returns: a bounded heartbeat first fails
    # on a hung server (not one stalling in the ms between the two). Any HTTP answer will do.
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    httpx.get(f"{parts.scheme}://{netloc}/api/v2/heartbeat", timeout=timeout_s)
    client: Any = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
    # chromadb 1.5 has no setting for its HTTP timeout (FastAPI.__init__ in chromadb/api/fastapi.py
    # builds `self._session = httpx.Client(timeout=None)`): the one place that bounds it.
    # tests/test_store_timeout.py fails if an upgrade moves the attribute.
    client._server._session.timeout = httpx.Timeout(timeout_s)
    return client


def _client(path: Path | None, url: str | None, token: str | None, timeout_s: float) -> Any:
    chromadb = import_chromadb()
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if url is not None:
        return _http_client(url, token, chroma_settings, timeout_s)
    if path is None:
        return chromadb.EphemeralClient(settings=chroma_settings)
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class ChromaStore:
    """Chunks and papers in one Chroma database; returns our own types only."""

    def __init__(
        self,
        path: Path | None,
        collection: str = "papers",
        *,
        url: str | None = None,
        token: str | None = None,
        timeout_s: float = _TIMEOUT_S,
    ) -> None:
        self.url, self._token, self.timeout_s = url, token, timeout_s
        self.path = None if url is not None else path
        if url is not None:
            self.where = f"the Chroma server {public_url(url)}"
        else:
            self.where = str(path) if path is not None else "the in-memory store"
        try:
            self._client = _client(self.path, url, token, timeout_s)
            self._chunks = self._client.get_or_create_collection(
                collection, metadata=_SPACE, embedding_function=None
            )
            self._papers = self._client.get_or_create_collection(
                collection + "-papers", metadata=_SPACE, embedding_function=None
            )
            self.max_batch = int(self._client.get_max_batch_size())  # a request on a server
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many kinds; the user needs one message
            if url is not None:  # "Could not connect to a Chroma server" is a ValueError
                why = f"{exc} (is it running? check chroma_url)"
                why = timeout_hint(timeout_s) if timed_out(exc) else why
                raise StoreServerError(f"cannot open {self.where}: {why}") from exc
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        self.name = collection
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
            base = paper_meta(paper)
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
                metadatas=[paper_meta(p) for p in part],
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
        return ChromaStore(
            self.path, self.name, url=self.url, token=self._token, timeout_s=self.timeout_s
        )

    # ---- the manifest and side collections (server mode) ----------------------------------
    @_store_op
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest kept with the collection (None if never written)."""
        meta = self._client.get_collection(self.name, embedding_function=None).metadata or {}
        raw = meta.get(_MANIFEST_KEY)
        if raw is None:
            return None
        try:
            data = json.loads(str(raw))
        except ValueError as exc:
            raise StoreError(
                f"unreadable manifest in {self.where}: {exc}; run `assistant reindex`"
            ) from exc
        return data if isinstance(data, dict) else None

    @_store_op
    def write_manifest(self, data: dict[str, Any]) -> None:
        # modify() replaces the metadata; the distance lives in the collection's configuration
        # (chromadb refuses to see hnsw:space again), so only the manifest is written
        self._chunks.modify(metadata={_MANIFEST_KEY: json.dumps(data, sort_keys=True)})

    @_store_op
    def side_collection(self, suffix: str) -> Any:
        """The collection ``<name>-<suffix>`` on the same client (created when missing), for
        records that are not chunks (:mod:`vectorstore.tldrs`); rows carry a 1-d vector."""
        return self._client.get_or_create_collection(
            f"{self.name}-{suffix}", embedding_function=None
        )

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
        return [paper_from(d, dict(m)) for d, m in zip(docs, metas, strict=True)]

    @_store_op
    def get_paper(self, paper_id: str) -> Paper | None:
        got = self._papers.get(ids=[paper_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        return paper_from((got["documents"] or [""])[0], dict((got["metadatas"] or [{}])[0]))

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
                    authors=authors_label(dict(meta)) or None,
                )
            )
        return hits
