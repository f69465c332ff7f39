"""Papers -> chunks -> embeddings -> store. Idempotent by content hash.

Chunks are sized in the embedder's own tokens; each chunk's embedded text starts with the title.
Papers are written in small groups; each group's paper records land after its chunks, so an
interrupted run leaves at most one group uncommitted, which the next run redoes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from assistant.protocols import Embedder, VectorStore
from assistant.types import Chunk, IngestReport, Paper, Rejection

if TYPE_CHECKING:  # importing langchain costs ~0.4 s, which `assistant ask` never needs
    from langchain_text_splitters import RecursiveCharacterTextSplitter

ProgressFn = Callable[[int], None]
WRITE_GROUP = 64  # papers per commit group


def make_splitter(
    embedder: Embedder, chunk_tokens: int, overlap: int
) -> RecursiveCharacterTextSplitter:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=min(overlap, chunk_tokens // 2),
        length_function=embedder.count_tokens,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )


def chunk_paper(paper: Paper, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    docs = splitter.create_documents([paper.abstract])
    chunks: list[Chunk] = []
    for i, doc in enumerate(docs):
        text = doc.page_content
        start = int(doc.metadata.get("start_index", -1))
        if start < 0 or paper.abstract[start : start + len(text)] != text:
            start = paper.abstract.find(text)  # the splitter's index is a hint, verify it
        chunks.append(
            Chunk(
                chunk_id=f"{paper.paper_id}#{i}",
                paper_id=paper.paper_id,
                index=i,
                text=text,
                start=max(start, 0),
                end=max(start, 0) + len(text),
                title=paper.title,
            )
        )
    return chunks


def dedupe(
    papers: Sequence[Paper], name_of: Callable[[Paper], str]
) -> tuple[list[Paper], list[Rejection]]:
    seen: dict[str, Paper] = {}
    rejected: list[Rejection] = []
    for p in papers:
        first = seen.get(p.paper_id)
        if first is None:
            seen[p.paper_id] = p
        elif first.content_hash != p.content_hash:
            rejected.append(
                Rejection(
                    file=name_of(p),
                    reason=f"paper {p.paper_id} appears twice with different text; kept the first",
                )
            )
    return list(seen.values()), rejected


def ingest_papers(
    papers: Sequence[Paper],
    *,
    store: VectorStore,
    embedder: Embedder,
    chunk_tokens: int,
    chunk_overlap: int,
    progress: ProgressFn | None = None,
) -> IngestReport:
    t0 = time.perf_counter()
    report = IngestReport()
    known = store.hashes()
    todo: list[Paper] = []
    for p in papers:
        old = known.get(p.paper_id)
        if old == p.content_hash:
            report.unchanged.append(p.paper_id)
        else:
            todo.append(p)
            (report.updated if old is not None else report.added).append(p.paper_id)
    if progress and report.unchanged:
        progress(len(report.unchanged))
    splitter = make_splitter(embedder, chunk_tokens, chunk_overlap)
    for s in range(0, len(todo), WRITE_GROUP):
        group = todo[s : s + WRITE_GROUP]
        chunked = [(p, chunk_paper(p, splitter)) for p in group]
        texts = [c.embed_text for _, chunks in chunked for c in chunks]
        vectors = embedder.embed(texts)
        items = []
        pos = 0
        for p, chunks in chunked:
            items.append((p, chunks, vectors[pos : pos + len(chunks)]))
            pos += len(chunks)
        report.chunks_written += store.write_papers(items)
        if progress:
            progress(len(group))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
