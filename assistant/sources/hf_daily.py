"""Parser for text copied from a Hugging Face "Daily Papers" listing page.

The layout (see assistant/data/hf_daily_sample.txt)::

    new / Get trending papers in your email inbox! / Subscribe / Daily Papers /
    byAK and the research community / Oct 22          <- page chrome and listing date
    <title>
    <blank>
    <abstract: one paragraph, possibly wrapped over several lines>
    <blank>
      • 6 authors                                     <- bullet may be "•", "·" or "-"
    ·
    Nov 11, 2023                                      <- or "Aug 7", "May 26 1", "Oct 1, 2024 12"

The "N authors" line anchors each paper: the text between the previous paper's trailer and it
is the title (first line, or first paragraph when a blank line follows it) and the abstract
(everything else, lines joined with spaces). A trailing number on the date line is the upvote
count and is ignored.

Dates without a year take the listing's year: the ``year`` argument when given, otherwise the
most recent year among the entries of the same listing that do show a year. If there is no
such entry either, the date is left unset (None) rather than guessed from today's clock.
A date that is missing or impossible (e.g. "Feb 30") leaves ``published`` unset; the paper is
kept.

Rejected (record = the title's line number): an empty abstract, invalid UTF-8 bytes, a paper
whose "N authors" line is missing (detected when its "·"/date trailer shows up inside the next
block), and leftover text at the end of the file that never reaches an "N authors" line.
Parsing resumes at the next recognisable paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.sources._common import (
    BAD_BYTES,
    MONTHS,
    Collector,
    has_bad_bytes,
    make_date,
    split_lines,
)
from assistant.types import ParseResult

FORMAT = "hf_daily"

# \s (not a literal space) because text copied from a browser often carries no-break spaces.
AUTHORS_RE = re.compile(r"[•·\-]\s*([0-9]{1,6})\s+authors?", re.IGNORECASE)
_DATE_RE = re.compile(r"([A-Za-z]{3,9})\.?\s+([0-9]{1,2})(?:,\s*([0-9]{4}))?(?:\s+[0-9]{1,9})?")
_DOTS = {"·", "•"}
_CHROME = {
    "new",
    "get trending papers in your email inbox!",
    "subscribe",
    "daily papers",
    "byak and the research community",
}


@dataclass
class _Raw:
    line: int  # 1-based line of the title
    title: str
    abstract: str
    n_authors: int
    month: int | None = None
    day: int | None = None
    year: int | None = None


def _date_parts(line: str) -> tuple[int, int, int | None] | None:
    m = _DATE_RE.fullmatch(line.strip())
    if not m or m[1].lower() not in MONTHS:
        return None
    return MONTHS[m[1].lower()], int(m[2]), int(m[3]) if m[3] else None


def _is_trailer(line: str) -> bool:
    """A "·" separator or a date line: belongs after an "N authors" line, never in a block."""
    return line.strip() in _DOTS or _date_parts(line) is not None


def _split_block(
    lines: list[str], start: int, end: int
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Split lines[start:end] at stray trailer lines.

    Returns the (start, end) spans of broken papers (text followed by a trailer but no
    "N authors" line) and the span of the final piece, which belongs to the next authors line.
    """
    i = start
    # Page chrome, the listing date and blank lines may precede a paper.
    while i < end and (
        not lines[i].strip() or lines[i].strip().lower() in _CHROME or _is_trailer(lines[i])
    ):
        i += 1
    broken: list[tuple[int, int]] = []
    piece = i
    for j in range(i, end):
        if _is_trailer(lines[j]):
            if any(lines[k].strip() for k in range(piece, j)):
                broken.append((piece, j))
            piece = j + 1
    return broken, (piece, end)


def _title_and_abstract(lines: list[str], start: int, end: int) -> tuple[int, str, str] | None:
    """(title line index, title, abstract) of a span, or None when it holds no text."""
    idx = [k for k in range(start, end) if lines[k].strip()]
    if not idx:
        return None
    first = idx[0]
    # The title is the first paragraph when a blank line separates it from the abstract and
    # it is title-sized (lets a wrapped title span lines); otherwise just the first line.
    title_end = first + 1
    while title_end < end and lines[title_end].strip():
        title_end += 1
    short = title_end - first <= 3 and sum(len(lines[k]) for k in range(first, title_end)) <= 300
    if not short or not any(lines[k].strip() for k in range(title_end, end)):
        title_end = first + 1
    title = " ".join(lines[k].strip() for k in range(first, title_end))
    abstract = " ".join(lines[k].strip() for k in range(title_end, end) if lines[k].strip())
    return first, title, abstract


def parse_hf_daily(text: str, name: str, *, year: int | None = None) -> ParseResult:
    out = Collector(name, FORMAT)
    lines = split_lines(text)
    raws: list[_Raw | tuple[int, str]] = []  # papers, or (line, reason) rejections, in order
    pos = 0
    for a, line in enumerate(lines):
        m = AUTHORS_RE.fullmatch(line.strip())
        if not m:
            continue
        broken, (start, end) = _split_block(lines, pos, a)
        for b_start, b_end in broken:
            found = _title_and_abstract(lines, b_start, b_end)
            if found:
                raws.append((found[0] + 1, "paper has no '• N authors' line"))
        found = _title_and_abstract(lines, start, end)
        # Consume the trailer: an optional "·" line, then an optional date line.
        pos = a + 1
        while pos < len(lines) and not lines[pos].strip():
            pos += 1
        if pos < len(lines) and lines[pos].strip() in _DOTS:
            pos += 1
            while pos < len(lines) and not lines[pos].strip():
                pos += 1
        parts = _date_parts(lines[pos]) if pos < len(lines) else None
        if parts:
            pos += 1
        if found is None:
            raws.append((a + 1, "'N authors' line without a title and abstract before it"))
            continue
        first, title, abstract = found
        if has_bad_bytes(*lines[first:a]):
            raws.append((first + 1, BAD_BYTES))
            continue
        raw = _Raw(first + 1, title, abstract, int(m[1]))
        if parts:
            raw.month, raw.day, raw.year = parts
        raws.append(raw)

    broken, (start, end) = _split_block(lines, pos, len(lines))
    for b_start, b_end in [*broken, (start, end)]:
        found = _title_and_abstract(lines, b_start, b_end)
        if found:
            raws.append((found[0] + 1, "incomplete paper: no '• N authors' line follows it"))

    years = [r.year for r in raws if isinstance(r, _Raw) and r.year is not None]
    listing_year = year if year is not None else max(years, default=None)
    for r in raws:
        if isinstance(r, tuple):
            out.reject(*r)
            continue
        y = r.year if r.year is not None else listing_year
        published = None
        if y is not None and r.month is not None and r.day is not None:
            published = make_date(y, r.month, r.day)
        out.add(r.line, title=r.title, abstract=r.abstract, n_authors=r.n_authors,
                published=published)  # fmt: skip
    return out.result()
