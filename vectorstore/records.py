"""How our records map to Chroma's: a paper's metadata (flat scalars, as Chroma requires) and
back. No chromadb here; :mod:`vectorstore.chroma` stores what these build."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from assistant.types import Paper

__all__ = ["authors_label", "paper_from", "paper_meta"]


def paper_meta(p: Paper) -> dict[str, Any]:
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


def paper_from(doc: str, meta: dict[str, Any]) -> Paper:
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


def authors_label(meta: dict[str, Any]) -> str:
    names = json.loads(str(meta.get("authors") or "[]"))
    n = int(meta.get("n_authors", -1))
    if names:
        return ", ".join(names[:3]) + (" et al." if len(names) > 3 else "")
    return f"{n} authors" if n > 0 else ""
