"""Helpers shared by the parsers: arXiv ids, dates, authors, bad bytes, and result collection."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

from assistant.types import Paper, ParseResult, Rejection

# parse_file decodes with errors="surrogateescape", so undecodable bytes arrive as lone
# surrogates (U+DC80..U+DCFF). Any surrogate in a str is unencodable as UTF-8 and would crash
# later (content_hash encodes), so the whole range is treated as "bad bytes".
_SURROGATE = re.compile("[\ud800-\udfff]")

BAD_BYTES = "invalid UTF-8 bytes"

# Per-record bounds. Real abstracts are under ~5,000 characters (arXiv allows 1,920); a record
# far beyond these is a broken file, and would otherwise become hundreds of thousands of chunks.
MAX_TITLE_CHARS = 2_000
MAX_ABSTRACT_CHARS = 100_000

# Old-style ids ("cs/0112017", "math.GT/0309136") are only accepted for real archive names, so
# an arbitrary "foo/1234567" id is not mistaken for arXiv.
_ARCHIVES = (
    "acc-phys|adap-org|alg-geom|ao-sci|astro-ph|atom-ph|bayes-an|chao-dyn|chem-ph|cmp-lg|"
    "comp-gas|cond-mat|cs|dg-ga|funct-an|gr-qc|hep-ex|hep-lat|hep-ph|hep-th|math|math-ph|"
    "mtrl-th|nlin|nucl-ex|nucl-th|patt-sol|physics|plasm-ph|q-alg|q-bio|q-fin|quant-ph|"
    "solv-int|stat|supr-con"
)
# New style "2310.01234" (4 or 5 digits after the dot).
_ID = rf"(?:\d{{4}}\.\d{{4,5}}|(?:{_ARCHIVES})(?:\.[A-Za-z]{{2}})?/\d{{7}})"
_ID_FULL = re.compile(rf"(?:arxiv:)?\s*(?P<id>{_ID})(?:v\d+)?", re.IGNORECASE | re.ASCII)
_ID_URL = re.compile(
    rf"arxiv\.org/(?:abs|pdf|html)/(?P<id>{_ID})(?:v\d+)?(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE | re.ASCII,
)

MONTHS: dict[str, int] = {}
for _i, _name in enumerate(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ],  # fmt: skip
    start=1,
):
    MONTHS[_name] = _i
    MONTHS[_name[:3]] = _i
MONTHS["sept"] = 9

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?")
_MDY = re.compile(r"([A-Za-z]+)\.? (\d{1,2}),? (\d{4})")  # "Nov 11, 2023", "November 11 2023"
_DMY = re.compile(r"(\d{1,2}) ([A-Za-z]+)\.?,? (\d{4})")  # "11 Nov 2023"


def split_lines(text: str) -> list[str]:
    """Lines as an editor numbers them (str.splitlines also breaks on \\f, \\x1c, U+2028...)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def has_bad_bytes(*texts: str) -> bool:
    return any(_SURROGATE.search(t) for t in texts)


def arxiv_id_from(value: str | None) -> str | None:
    """The bare arXiv id (no version) in an id field or arxiv.org URL, else None."""
    if not value:
        return None
    value = value.strip()
    m = _ID_FULL.fullmatch(value) or _ID_URL.search(value)
    return m.group("id") if m else None


def make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:  # "Feb 30" and friends: keep the paper, drop the date
        return None


def parse_date(value: object) -> date | None:
    """ISO date/datetime, "Nov 11, 2023" or "11 Nov 2023"; anything else is None (never raises)."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if m := _ISO.fullmatch(text):
        return make_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _MDY.fullmatch(text):
        month = MONTHS.get(m[1].lower())
        return make_date(int(m[3]), month, int(m[2])) if month else None
    if m := _DMY.fullmatch(text):
        month = MONTHS.get(m[2].lower())
        return make_date(int(m[3]), month, int(m[1])) if month else None
    try:  # other ISO 8601 spellings, e.g. "20231111"
        return datetime.fromisoformat(text).date()
    except (ValueError, OverflowError):
        return None


def split_authors(value: object) -> list[str]:
    """A list of names (or of {"name": ...}), or one string separated by ',', ';' or ' and '."""
    if isinstance(value, str):
        parts: Iterable[object] = re.split(r"\s*[,;]\s*|\s+and\s+", value)
    elif isinstance(value, list):
        parts = value
    else:
        return []
    names: list[str] = []
    for part in parts:
        if isinstance(part, dict):
            part = part.get("name")
        if isinstance(part, str) and part.strip():
            names.append(" ".join(part.split()))
    return names


class Collector:
    """Builds Papers, records Rejections and drops later duplicates of a paper_id."""

    def __init__(self, name: str, fmt: str) -> None:
        self.name = name
        self.fmt = fmt
        self.papers: list[Paper] = []
        self.rejected: list[Rejection] = []
        self._seen: dict[str, int | None] = {}

    def reject(self, record: int | None, reason: str) -> None:
        self.rejected.append(Rejection(file=self.name, record=record, reason=reason))

    def add(
        self,
        record: int | None,
        *,
        title: str,
        abstract: str,
        arxiv_id: str | None = None,
        authors: list[str] | None = None,
        n_authors: int | None = None,
        published: date | None = None,
        url: str | None = None,
    ) -> None:
        problem = None
        if has_bad_bytes(title, abstract, arxiv_id or "", url or "", *(authors or [])):
            problem = BAD_BYTES
        elif not title.strip():
            problem = "empty title"
        elif not abstract.strip():
            problem = "empty abstract"
        elif len(title) > MAX_TITLE_CHARS:
            problem = (
                f"title too long ({len(title):,} characters; the limit is {MAX_TITLE_CHARS:,})"
            )
        elif len(abstract) > MAX_ABSTRACT_CHARS:
            problem = (
                f"abstract too long ({len(abstract):,} characters; "
                f"the limit is {MAX_ABSTRACT_CHARS:,})"
            )
        if problem:
            self.reject(record, problem)
            return
        if url is None and arxiv_id:
            url = f"https://arxiv.org/abs/{arxiv_id}"
        paper = Paper.build(
            title=title,
            abstract=abstract,
            arxiv_id=arxiv_id,
            authors=authors,
            n_authors=n_authors,
            published=published,
            url=url,
            source=self.fmt,
        )
        if paper.paper_id in self._seen:
            first = self._seen[paper.paper_id]
            where = f" (first seen at record {first})" if first is not None else ""
            self.reject(record, f"duplicate paper_id '{paper.paper_id}'{where}")
            return
        self._seen[paper.paper_id] = record
        self.papers.append(paper)

    def result(self) -> ParseResult:
        return ParseResult(papers=self.papers, rejected=self.rejected, format=self.fmt)
