"""Parsers for field-based records: JSON Lines, a JSON array, and CSV with a header.

Fields (names are case-insensitive): ``title`` and ``abstract`` (alias ``summary``) are
required; ``id`` (an arXiv id or arxiv.org URL, else ignored and a slug is used), ``authors``
(list of names, or one string separated by commas, semicolons or " and "), ``published`` (ISO
date/datetime or "Nov 11, 2023"; unparseable -> None, the paper is kept) and ``url`` are
optional. Unknown fields are ignored.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from assistant.errors import InputError
from assistant.sources._common import (
    BAD_BYTES,
    Collector,
    arxiv_id_from,
    has_bad_bytes,
    parse_date,
    split_authors,
    split_lines,
)
from assistant.types import ParseResult

_ALIASES = {"summary": "abstract", "arxiv_id": "id", "date": "published", "link": "url"}


def _normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """Lower-case keys and resolve aliases; a canonical key beats its alias."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        k = key.strip().lower()
        if k in _ALIASES:
            continue
        out.setdefault(k, value)
    for key, value in obj.items():
        canonical = _ALIASES.get(key.strip().lower())
        if canonical and out.get(canonical) in (None, ""):
            out[canonical] = value
    return out


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (to find undecodable bytes anywhere in a record)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _add_record(out: Collector, record: int, obj: dict[str, Any]) -> None:
    if has_bad_bytes(*_strings(obj)):
        out.reject(record, BAD_BYTES)
        return
    fields = _normalise(obj)
    for required in ("title", "abstract"):
        value = fields.get(required)
        if value is None:
            out.reject(record, f"missing required field '{required}'")
            return
        if not isinstance(value, str):
            out.reject(record, f"field '{required}' must be a string, got {_kind(value)}")
            return
    raw_id = fields.get("id")
    raw_url = fields.get("url")
    url = (raw_url.strip() or None) if isinstance(raw_url, str) else None
    out.add(
        record,
        title=fields["title"],
        abstract=fields["abstract"],
        arxiv_id=arxiv_id_from(raw_id if isinstance(raw_id, str) else None) or arxiv_id_from(url),
        authors=split_authors(fields.get("authors")),
        published=parse_date(fields.get("published")),
        url=url,
    )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _why(e: Exception) -> str:
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return str(e).split(";")[0]  # e.g. "Exceeds the limit (4300 digits) for integer ..."


def parse_jsonl(text: str, name: str) -> ParseResult:
    out = Collector(name, "jsonl")
    for lineno, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        if has_bad_bytes(line):
            out.reject(lineno, BAD_BYTES)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            out.reject(lineno, f"malformed JSON: {e.msg} (col {e.colno})")
            continue
        except (ValueError, RecursionError) as e:  # e.g. a 5000-digit number, [[[[...]]]]
            out.reject(lineno, f"malformed JSON: {_why(e)}")
            continue
        if not isinstance(obj, dict):
            out.reject(lineno, f"line is not a JSON object (got {_kind(obj)})")
            continue
        _add_record(out, lineno, obj)
    return out.result()


def parse_json(text: str, name: str) -> ParseResult:
    """A JSON array of objects (record = 1-based element index), a single object, or an object
    holding the array under "papers"."""
    out = Collector(name, "json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{name}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except (ValueError, RecursionError) as e:
        raise InputError(f"{name}: malformed JSON: {_why(e)}") from None
    if isinstance(data, dict):
        data = data["papers"] if isinstance(data.get("papers"), list) else [data]
    if not isinstance(data, list):
        raise InputError(f"{name}: expected a JSON array of paper objects, got {_kind(data)}")
    for index, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            out.reject(index, f"element {index} is not a JSON object (got {_kind(obj)})")
            continue
        _add_record(out, index, obj)
    return out.result()


def _header_key(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip().lower()


def parse_csv(text: str, name: str) -> ParseResult:
    """Comma-separated with a header row; record = the line the row starts on."""
    out = Collector(name, "csv")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    last_line = 0
    while True:
        start = last_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if reader.line_num == last_line:  # no progress; stop instead of looping forever
                out.reject(start, f"unreadable CSV: {e}")
                break
            last_line = reader.line_num
            if header is None:
                raise InputError(f"{name}: unreadable CSV header on line {start}: {e}") from None
            out.reject(start, f"unreadable CSV row: {e}")
            continue
        last_line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [_header_key(cell) for cell in row]
            present = set(_normalise(dict.fromkeys(header, "x")))
            missing = [c for c in ("title", "abstract") if c not in present]
            if missing:
                raise InputError(
                    f"{name}: CSV header on line {start} is missing required column(s) "
                    f"{', '.join(repr(c) for c in missing)}; found: {', '.join(header)}"
                )
            continue
        if len(row) > len(header):
            out.reject(
                start,
                f"row has {len(row)} fields but the header has {len(header)} (an unquoted comma?)",
            )
            continue
        obj: dict[str, Any] = {}
        for key, cell in zip(header, row, strict=False):
            obj.setdefault(key, cell)
        obj = {k: v for k, v in obj.items() if k}  # drop unnamed columns
        for key in ("title", "abstract"):
            obj.setdefault(key, "")  # a short row: its missing cells are empty
        _add_record(out, start, obj)
    if header is None:
        raise InputError(f"{name}: CSV has no header row")
    return out.result()
