"""Where TL;DRs live: a crash-safe journal in the data dir, and atomic exports.

The journal (``tldrs.jsonl``) gets one complete line per finished paper, flushed and fsynced,
so a batch killed at any moment loses at most the paper in progress. On open, a torn last line
or a duplicate is dropped and the file rewritten atomically. Exports (``--out``) are written to a
temp file and renamed, so an export is either the old file or the whole new one.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from assistant.errors import UsageError
from assistant.files import atomic_write_text
from assistant.types import Paper, Tldr

EXPORT_FORMATS = ("jsonl", "csv", "md")
# JSON allows these raw inside strings, but str.splitlines() and old JavaScript split on them.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def _line(record: Tldr) -> str:
    """One journal line: ``record`` as JSON that every line splitter reads as one line."""
    text = record.model_dump_json()
    for raw, escaped in _LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return text + "\n"


class TldrJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, Tldr] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        raw = self.path.read_bytes().decode("utf-8", errors="replace")
        lines = raw.split("\n")
        clean = True
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = Tldr.model_validate_json(line)
            except ValueError:
                clean = False  # a torn line from a killed run
                continue
            if rec.paper_id in self.records:
                clean = False
            self.records[rec.paper_id] = rec
        if not clean or (raw and not raw.endswith("\n")):
            self._rewrite()

    def _rewrite(self) -> None:
        atomic_write_text(self.path, "".join(_line(r) for r in self.records.values()))

    def is_current(self, paper: Paper, provenance: dict[str, str]) -> bool:
        rec = self.records.get(paper.paper_id)
        if rec is None:
            return False
        wanted = provenance | {"content_hash": paper.content_hash}
        return all(rec.provenance.get(k) == v for k, v in wanted.items())

    def append(self, record: Tldr) -> None:
        replacing = record.paper_id in self.records
        self.records[record.paper_id] = record
        if replacing:
            self._rewrite()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = _line(record).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write of one whole line
            os.fsync(fd)
        finally:
            os.close(fd)

    def forget(self, keep: Iterable[str]) -> None:
        keep_set = set(keep)
        if set(self.records) - keep_set:
            self.records = {k: v for k, v in self.records.items() if k in keep_set}
            self._rewrite()


_CONTROL = dict.fromkeys([*range(0x20), 0x7F], " ")  # NUL etc. make tools call a file binary


def _md_cell(text: str) -> str:
    # Markdown tables: escape HTML and pipes, flatten newlines, drop control characters.
    return html.escape(" ".join(text.translate(_CONTROL).split())).replace("|", "\\|")


def render_export(records: Sequence[Tldr], fmt: str) -> str:
    if fmt == "jsonl":
        # json.dumps escapes U+2028/U+2029 and control characters, so every line parses.
        return "".join(json.dumps(r.model_dump(mode="json")) + "\n" for r in records)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["paper_id", "title", "tldr", "method", "support", "words", "seconds"])
        for r in records:
            writer.writerow([r.paper_id, r.title, r.tldr, r.method, r.support, r.words, r.seconds])
        return buf.getvalue()
    if fmt == "md":
        rows = ["| paper | TL;DR | method | support |", "|---|---|---|---|"]
        rows += [
            f"| {_md_cell(r.title)} | {_md_cell(r.tldr)} | {r.method} | {r.support:.2f} |"
            for r in records
        ]
        return "\n".join(rows) + "\n"
    raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")


def export(records: Sequence[Tldr], path: Path, fmt: str) -> None:
    atomic_write_text(path, render_export(records, fmt))
