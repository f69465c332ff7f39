"""The Papers tab's table as plain data: short ids, search, the date filter, rows (pure).

Stored ``paper_id`` values stay as they are (a slug plus a title hash when a paper has no arXiv
id: ``tree-of-code-a-tree-structured-exploring-framewo-6bc26584``), because the journal, the
store and the CLI key on them. Only the table shows a shorter id, and maps it back through
:func:`short_ids` over the same papers, so a selected row always finds its paper.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from assistant.types import Paper, Tldr, make_paper_id, slugify

__all__ = [
    "ALL_DATES",
    "PAPER_HEADERS",
    "ask_prefill",
    "date_choices",
    "filter_papers",
    "paper_rows",
    "short_id",
    "short_ids",
]

PAPER_HEADERS = ["Date", "Title", "TL;DR", "Method", "ID"]
ID_COLUMN = PAPER_HEADERS.index("ID")
ALL_DATES = ""  # the date filter's "every date" value
SHORT_MAX = 18  # characters of a short slug
_HEAD = re.compile(r"^\s*([^:]{1,40}):\s")  # "Cappy: Outperforming ..." -> "Cappy"


def short_id(paper: Paper) -> str:
    """The arXiv id (or any id the record brought) as it is; a slug id shortened to the title's
    leading name ("cappy") or its first three words ("tree-of-code")."""
    if paper.paper_id != make_paper_id(paper.title):
        return paper.paper_id  # not a generated slug: an arXiv id or the record's own id
    head = _HEAD.match(paper.title)
    if head and len(head.group(1).split()) <= 3:
        slug = slugify(head.group(1), SHORT_MAX)
    else:
        slug = "-".join(slugify(paper.title).split("-")[:3])[:SHORT_MAX].rstrip("-")
    return slug or paper.paper_id


def short_ids(papers: Iterable[Paper]) -> dict[str, str]:
    """paper_id -> the id the table shows, unique over ``papers`` (clashes keep a hash)."""
    papers = list(papers)
    wanted = {p.paper_id: short_id(p) for p in papers}
    clashes = Counter(wanted.values())
    taken = {p.paper_id for p in papers}
    out: dict[str, str] = {}
    for pid, short in wanted.items():
        if clashes[short] > 1 or (short in taken and short != pid):
            short = pid  # the full id is unique by construction
        out[pid] = short
    return out


def _haystack(paper: Paper, tldr: Tldr | None, shown_id: str) -> str:
    parts = [paper.title, shown_id, paper.paper_id, " ".join(paper.authors), paper.abstract]
    if tldr is not None:
        parts.append(tldr.tldr)
    return " ".join(parts).casefold()


def filter_papers(
    papers: Sequence[Paper],
    tldrs: Mapping[str, Tldr],
    ids: Mapping[str, str],
    *,
    query: str = "",
    date: str = ALL_DATES,
) -> list[Paper]:
    """Papers whose title, id, authors, abstract or TL;DR contain every word of ``query``
    (case-insensitive), published on ``date`` (ISO) unless it is :data:`ALL_DATES`."""
    words = query.casefold().split()
    out = []
    for p in papers:
        if date and (p.published is None or p.published.isoformat() != date):
            continue
        if words:
            hay = _haystack(p, tldrs.get(p.paper_id), ids.get(p.paper_id, p.paper_id))
            if not all(w in hay for w in words):
                continue
        out.append(p)
    return out


def date_choices(papers: Iterable[Paper]) -> list[tuple[str, str]]:
    """(label, value) pairs for the date filter: every date, then each date newest first."""
    counts = Counter(p.published.isoformat() for p in papers if p.published is not None)
    return [("All dates", ALL_DATES)] + [
        (f"{day} ({n})", day) for day, n in sorted(counts.items(), reverse=True)
    ]


def paper_rows(
    papers: Iterable[Paper], tldrs: Mapping[str, Tldr], ids: Mapping[str, str]
) -> list[list[str]]:
    """Rows in :data:`PAPER_HEADERS` order: plain strings (the table renders cells as text)."""
    rows = []
    for p in papers:
        record = tldrs.get(p.paper_id)
        rows.append(
            [
                p.published.isoformat() if p.published else "",
                p.title,
                record.tldr if record else "",
                record.method if record else "",
                ids.get(p.paper_id, p.paper_id),
            ]
        )
    return rows


def ask_prefill(paper: Paper) -> str:
    """A question that names the paper, for the chat box: answerable as it stands (most
    abstracts say what they propose), and easy to edit into the question the reader has."""
    return f'What does the paper "{paper.title}" propose?'
