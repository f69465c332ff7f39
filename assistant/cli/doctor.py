"""The `assistant doctor` command: is this install healthy? (The checks: assistant.doctor.)"""

from __future__ import annotations

import argparse
import time
from typing import Any

from assistant.cli.common import command, emit_json
from assistant.config import Settings

MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def register(sub: Any) -> None:
    p = command(
        sub,
        "doctor",
        cmd_doctor,
        help="check the install: Python, llama.cpp, model files, embedder, store, disk",
        description=(
            "Check that this install can answer: Python and llama-cpp-python versions, the CPU "
            "features llama.cpp was built for, the bundled model's sha256, the converted model "
            "and the embedder graph (present and hash-checked), the Chroma version and the "
            "store's manifest, the data dir (writable, free disk), configured servers, and "
            "Chromium for the browser tests. Each problem comes with a fix. Read-only unless "
            "--fix, which rebuilds the derived files and creates the data dir. Exit 0 when "
            "healthy (warnings allowed), 1 when a check fails."
        ),
        epilog="examples:\n  assistant doctor\n  assistant doctor --json\n"
        "  assistant doctor --fix --data-dir ~/papers-store",
    )
    p.add_argument(
        "--fix", action="store_true", help="rebuild missing or corrupt derived files now"
    )


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.doctor import run_checks

    t0 = time.perf_counter()
    report = run_checks(settings, fix=bool(args.fix))
    seconds = time.perf_counter() - t0
    if args.json:
        emit_json(report.to_dict() | {"seconds": round(seconds, 3)})
    else:
        width = max(len(c.name) for c in report.checks)
        for c in report.checks:
            fixed = " (fixed)" if c.fixed else ""
            print(f"{MARKS[c.status]}  {c.name:<{width}}  {c.detail}{fixed}")
            if c.hint and c.status != "ok":
                print(f"      {'':<{width}}  fix: {c.hint}")
        failing = report.failing
        if failing:
            print(f"\n{len(failing)} check(s) failed: {', '.join(c.name for c in failing)}")
        else:
            print(f"\nhealthy ({seconds:.1f} s)")
    return 0 if report.ok else 1
