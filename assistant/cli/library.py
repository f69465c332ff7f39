"""CLI commands that manage the indexed library: ingest, papers, reindex, config, status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cli.common import command, emit_json, progress_factory
from assistant.config import SECRET_SETTINGS, Settings
from assistant.errors import InputError, UsageError
from assistant.service import open_library

if TYPE_CHECKING:
    from assistant.library import Library
from assistant.types import IngestReport, Paper, Rejection


def register(sub: Any) -> None:
    from assistant.sources import FORMATS

    p = command(
        sub,
        "ingest",
        cmd_ingest,
        help="parse files and add their papers to the store",
        description="Parse listing/JSONL/JSON/CSV/arXiv-Atom files and index their papers.\n"
        "Re-ingesting is safe: unchanged papers are skipped, edited ones replaced.",
        epilog="examples:\n  assistant ingest papers.jsonl\n"
        "  assistant ingest daily.txt export.csv --json\n"
        "  assistant ingest feed.xml --format arxiv_atom --strict",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--format", choices=FORMATS, help="force a format (default: detected)")
    p.add_argument("--year", type=int, help="year for listing dates that lack one")
    p.add_argument("--strict", action="store_true", help="any rejected record fails the run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    papers = sub.add_parser(
        "papers",
        help="list, show or delete indexed papers",
        epilog="examples:\n  assistant papers list\n  assistant papers show 2310.01234 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    psub = papers.add_subparsers(dest="papers_command", metavar="ACTION", required=True)
    command(
        psub,
        "list",
        cmd_papers_list,
        help="list indexed papers",
        epilog="example:\n  assistant papers list --json",
    )
    command(
        psub,
        "show",
        cmd_papers_show,
        help="show one paper",
        epilog="example:\n  assistant papers show 2310.01234",
    ).add_argument("paper_id")
    command(
        psub,
        "delete",
        cmd_papers_delete,
        help="remove a paper and its chunks",
        epilog="example:\n  assistant papers delete 2310.01234",
    ).add_argument("paper_id")
    command(
        sub,
        "reindex",
        cmd_reindex,
        help="rebuild chunks and vectors with the current embedder",
        description="Rebuild the store from its stored abstracts, e.g. after an embedder change.",
        epilog="example:\n  assistant reindex --json",
    )
    command(
        sub,
        "config",
        cmd_config,
        help="print the effective settings",
        description="Settings come from flags, then ASSISTANT_* variables, then a TOML file.",
        epilog="example:\n  ASSISTANT_TOP_K=8 assistant config --json",
    )
    command(
        sub,
        "status",
        cmd_status,
        help="papers, chunks and store location",
        epilog="example:\n  assistant status",
    )


def parse_inputs(
    paths: list[Path], fmt: str | None, year: int | None, max_bytes: int
) -> tuple[list[Paper], list[Rejection]]:
    from assistant.sources import parse_file

    papers: list[Paper] = []
    rejected: list[Rejection] = []
    for path in paths:
        try:
            result = parse_file(path, fmt, year=year, max_bytes=max_bytes)
        except InputError as exc:
            rejected.append(Rejection(file=str(path), reason=str(exc)))
            continue
        papers.extend(p.model_copy(update={"source": str(path)}) for p in result.papers)
        rejected.extend(result.rejected)
    return papers, rejected


def run_ingest(
    lib: Library, papers: list[Paper], rejected: list[Rejection], *, quiet: bool
) -> IngestReport:
    return lib.ingest(
        papers,
        rejected=rejected,
        progress=progress_factory(not quiet),
    )


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    papers, rejected = parse_inputs(
        list(args.paths), args.format, args.year, settings.max_input_mb * 1024 * 1024
    )
    if args.strict and rejected:
        _print_rejections(rejected)
        raise UsageError(f"--strict: {len(rejected)} record(s) rejected; nothing was written")
    if not papers:
        report = IngestReport(rejected=rejected, files=[str(p) for p in args.paths])
        _print_report(report, args.json)
        return 1
    with open_library(settings, write=True) as lib:
        report = run_ingest(lib, papers, rejected, quiet=args.quiet or args.json)
    report.files = [str(p) for p in args.paths]
    _print_report(report, args.json)
    return 0 if report.ingested else 1


def _print_rejections(rejected: list[Rejection]) -> None:
    for r in rejected:
        where = f"{r.file}:{r.record}" if r.record is not None else r.file
        print(f"  rejected {where}: {r.reason}", file=sys.stderr)


def _print_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        emit_json(report.model_dump() | {"ingested": report.ingested})
        return
    print(
        f"added {len(report.added)}, updated {len(report.updated)}, "
        f"unchanged {len(report.unchanged)}, rejected {len(report.rejected)} "
        f"({report.chunks_written} chunks written in {report.seconds:.1f}s)"
    )
    _print_rejections(report.rejected)


def cmd_papers_list(args: argparse.Namespace, settings: Settings) -> int:
    with open_library(settings) as lib:
        papers = lib.papers()
    if args.json:
        emit_json([_paper_row(p) for p in papers])
    else:
        for p in papers:
            when = p.published.isoformat() if p.published else "----------"
            print(f"{when}  {p.paper_id:<40}  {p.title}")
        print(f"{len(papers)} papers", file=sys.stderr)
    return 0


def _paper_row(p: Paper) -> dict[str, Any]:
    return {
        "paper_id": p.paper_id,
        "title": p.title,
        "published": p.published.isoformat() if p.published else None,
        "n_authors": p.n_authors,
        "url": p.url,
    }


def cmd_papers_show(args: argparse.Namespace, settings: Settings) -> int:
    with open_library(settings) as lib:
        paper = lib.paper(args.paper_id)
    if args.json:
        emit_json(paper.model_dump(mode="json"))
    else:
        print(paper.title)
        meta = [paper.paper_id, paper.published.isoformat() if paper.published else ""]
        if paper.n_authors:
            meta.append(f"{paper.n_authors} authors")
        print(" · ".join(m for m in meta if m))
        if paper.url:
            print(paper.url)
        print()
        print(paper.abstract)
    return 0


def cmd_papers_delete(args: argparse.Namespace, settings: Settings) -> int:
    with open_library(settings, write=True) as lib:
        found = lib.delete(args.paper_id)
    if args.json:
        emit_json({"paper_id": args.paper_id, "deleted": found})
    elif found:
        print(f"deleted {args.paper_id}")
    else:
        print(f"no paper with id {args.paper_id!r}", file=sys.stderr)
    return 0 if found else 1


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    with open_library(settings, write=True, check=False) as lib:
        report = lib.reindex(progress=progress_factory(not args.json))
    _print_report(report, args.json)
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    data = settings.model_dump(mode="json")
    for key in SECRET_SETTINGS:  # keys and passwords: set or not, never their value
        if data.get(key):
            data[key] = "***"
    if args.json:
        emit_json(data)
    else:
        for key, value in data.items():
            print(f"{key} = {value!r}")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    with open_library(settings) as lib:
        status = lib.status()
    if args.json:
        emit_json(status)
    else:
        for key, value in status.items():
            print(f"{key}: {value}")
    return 0
