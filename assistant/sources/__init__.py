"""Input parsers: turn a file of paper records into Papers plus per-record Rejections.

File-level problems (missing, a directory, too large, empty, unreadable as a whole) raise
InputError; an unknown ``fmt`` raises UsageError. Problems with single records never abort
the file: they become Rejections naming the file, the record (line number, JSON element or
Atom entry index) and the reason.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

from assistant.errors import InputError, UsageError
from assistant.sources.arxiv_atom import parse_arxiv_atom
from assistant.sources.hf_daily import AUTHORS_RE, parse_hf_daily
from assistant.sources.records import parse_csv, parse_json, parse_jsonl
from assistant.types import ParseResult

__all__ = ["FORMATS", "detect_format", "parse_file", "parse_text"]

FORMATS = ("hf_daily", "jsonl", "json", "csv", "arxiv_atom")

_PARSERS: dict[str, Callable[[str, str], ParseResult]] = {
    "jsonl": parse_jsonl,
    "json": parse_json,
    "csv": parse_csv,
    "arxiv_atom": parse_arxiv_atom,
}
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".xml": "arxiv_atom",
    ".atom": "arxiv_atom",
}
_FEED = re.compile(r"<(?:[\w.-]+:)?feed[\s>/]")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def _looks_like_csv_header(line: str) -> bool:
    if "," not in line:
        return False
    try:
        cells = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return False
    names = {c.strip().lstrip("\ufeff").strip().lower() for c in cells}
    return "title" in names and bool(names & {"abstract", "summary"})


def detect_format(text: str, filename: str = "") -> str:
    """Guess the format from the content; the file extension only breaks ties or, when the
    content matches nothing, picks the parser whose error message will be most useful."""
    by_ext = _EXTENSIONS.get(Path(filename).suffix.lower()) if filename else None
    body = text.lstrip("\ufeff \t\r\n")
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if body.startswith("<") and (_FEED.search(body[:20000]) or body.startswith("<?xml")):
        return "arxiv_atom"
    if body.startswith("["):
        return "json"
    if first.startswith("{"):
        if by_ext in ("json", "jsonl"):
            return by_ext
        # One object per line is JSONL; an object spread over lines is a JSON document.
        if first.endswith("}"):
            return "jsonl"
        return "json"
    if _looks_like_csv_header(first):
        return "csv"
    if any(AUTHORS_RE.fullmatch(ln) for ln in lines):
        return "hf_daily"
    if by_ext:
        return by_ext
    shown = filename or "input"
    raise InputError(
        f"{shown}: cannot tell which format this is (supported: {', '.join(FORMATS)}); "
        "use --format to force one"
    )


def parse_text(
    text: str, name: str, fmt: str | None = None, *, year: int | None = None
) -> ParseResult:
    """Parse already-decoded text; ``name`` is used in messages and Rejections."""
    if fmt is not None:
        _check_format(fmt)
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InputError(f"{name}: empty file (nothing to parse)")
    fmt = fmt or detect_format(text, name)
    if fmt == "hf_daily":
        return parse_hf_daily(text, name, year=year)
    return _PARSERS[fmt](text, name)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def parse_file(
    path: Path,
    fmt: str | None = None,
    *,
    year: int | None = None,
    max_bytes: int = 64 * 1024 * 1024,
) -> ParseResult:
    """Read, decode and parse one file.

    Bytes that are not valid UTF-8 are kept as lone surrogates (errors="surrogateescape") so
    only the records containing them are rejected, not the whole file.
    """
    if fmt is not None:
        _check_format(fmt)
    path = Path(path)
    name = str(path)
    try:
        if path.is_dir():
            raise InputError(f"{name}: is a directory, not a file (pass the files inside it)")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"{name}: file is too large ({_size(size)}); the limit is {_size(max_bytes)}"
            )
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # the file may have grown since stat()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as e:
        raise InputError(f"{name}: cannot read file: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise InputError(f"{name}: file is larger than the limit of {max_bytes} bytes")
    if not data:
        raise InputError(f"{name}: empty file (0 bytes)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name}: file is UTF-16 encoded; save it as UTF-8 and try again")
    text = data.decode("utf-8", errors="surrogateescape")
    return parse_text(text, name, fmt, year=year)
