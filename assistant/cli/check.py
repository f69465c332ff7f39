"""`assistant check`: judge any text against indexed papers, sentence by sentence."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from assistant.cli.common import command, emit_json
from assistant.config import Settings
from assistant.errors import InputError, UsageError

EPILOG = """\
Each sentence is checked by the same judge that gates the assistant's answers and TL;DRs:
its numbers, names, subject and relations must be what a sentence of the paper says. With
--paper, against those papers; without, against the papers retrieval finds per sentence.

exit codes: 0 every sentence is supported; 1 at least one is not (or an error); 2 usage.

examples:
  assistant check "Cappy has 360 million parameters." --paper cappy-outperforming-and-bo-1a2b3c4d
  assistant check --file summary.txt --json
  echo "UniVTG unifies three tasks." | assistant check --file -
"""


def register(sub: Any) -> None:
    p = command(
        sub,
        "check",
        cmd_check,
        help="check any text against the indexed papers, sentence by sentence",
        epilog=EPILOG,
    )
    p.add_argument("text", nargs="?", help="the text (omit with --file)")
    p.add_argument("--file", type=Path, help="read the text from FILE ('-' for stdin)")
    p.add_argument("--paper", nargs="+", metavar="ID", help="check against these papers only")


def _read(args: argparse.Namespace) -> str:
    if bool(args.text) == bool(args.file):
        raise UsageError("give either TEXT or --file")
    if args.text:
        return str(args.text)
    if str(args.file) == "-":
        return sys.stdin.read()
    try:
        return Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {args.file}: {exc}") from exc


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.service import Assistant

    text = _read(args)
    with Assistant(settings) as assistant:
        report = assistant.check(text, args.paper or ())
    if args.json:
        emit_json(
            report.model_dump(mode="json")
            | {"supported": report.supported, "unsupported": report.unsupported}
        )
    else:
        for s in report.sentences:
            mark = "ok " if s.supported else "NO "
            print(f"{mark} {s.sentence}")
            if not s.supported:
                print(f"     why: {s.reason or 'not supported'}")
            if s.evidence:
                print(f"     evidence ({s.paper_id}): {s.evidence}")
        print(f"{report.supported} of {len(report.sentences)} sentences supported")
    if not report.sentences:
        raise InputError("no sentence to check")
    return 0 if report.unsupported == 0 else 1
