"""CLI commands that run the language model: ask and tldr."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cli.common import command, emit_json, model_flags
from assistant.config import Settings
from assistant.errors import InputError, UsageError
from assistant.journal import EXPORT_FORMATS
from assistant.protocols import Message
from assistant.types import Answer, Citation, Paper, Tldr

if TYPE_CHECKING:
    from assistant.service import Assistant


def register(sub: Any) -> None:
    p = command(
        sub,
        "ask",
        cmd_ask,
        help="answer a question from the indexed abstracts, with citations",
        description="Answer from the indexed abstracts only. Sentences are printed as they are "
        "verified against the cited sources; each citation carries a verbatim quote.",
        epilog="examples:\n  assistant ask 'How many parameters does Cappy have?'\n"
        "  assistant ask 'Which benchmark does GUIDE propose?' --json\n"
        "  assistant ask --questions-file questions.txt --json > answers.jsonl\n"
        "  assistant ask 'Which tasks does it unify?' --history chat.json\n"
        '    (chat.json: [{"role": "user", "content": "What is UniVTG?"}, ...])',
    )
    p.add_argument("question", nargs="?", help="the question (omit with --questions-file)")
    p.add_argument(
        "--questions-file", type=Path, help="one question per line (text, or JSONL with 'q')"
    )
    p.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help='the conversation so far: a JSON list of {"role": "user"|"assistant", '
        '"content": ...} messages; a follow-up\'s "it" or "the dataset" is resolved from it '
        "(with --questions-file: the same history before each question)",
    )
    p.add_argument("--top-k", dest="top_k", type=int, help="papers to consult")
    p.add_argument(
        "--draft", action="store_true", help="also stream the model's raw tokens to stderr"
    )
    model_flags(p)

    t = command(
        sub,
        "tldr",
        cmd_tldr,
        help="one-line TL;DRs for indexed papers",
        description="Write a one-sentence TL;DR (at most 30 words) per paper, checked against "
        "its abstract; falls back to a compressed abstract sentence when the model's text "
        "does not hold up. Results are kept in the data dir; reruns skip finished papers.",
        epilog="examples:\n  assistant tldr --all\n"
        "  assistant tldr --paper 2310.01234 --json\n"
        "  assistant tldr --since 2025-01-01 --out tldrs.csv --format csv\n"
        "  ASSISTANT_LLM_BASE_URL=http://127.0.0.1:8080/v1 assistant tldr --all --concurrency 2",
    )
    which = t.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every indexed paper")
    which.add_argument("--paper", nargs="+", metavar="ID", help="these paper ids")
    which.add_argument("--since", type=date.fromisoformat, help="papers published on/after DATE")
    t.add_argument("--out", type=Path, help="write to FILE (atomically) instead of stdout")
    t.add_argument("--format", choices=EXPORT_FORMATS, help="output format")
    t.add_argument("--force", action="store_true", help="regenerate even if already done")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="papers in flight at once against a model server (llm_base_url); order, resume "
        "and atomic output are unchanged (default 1)",
    )
    model_flags(t)


def _read_questions(path: Path) -> list[str]:
    try:
        # "\n" only: a JSONL line may hold U+2028 or U+0085, which splitlines() would split on
        lines = path.read_text("utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read questions file {path}: {exc}") from exc
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                q = json.loads(line).get("q")
            except (ValueError, AttributeError) as exc:
                raise InputError(f"{path}:{n}: malformed JSON line: {exc}") from exc
            if not isinstance(q, str) or not q.strip():
                raise InputError(f"{path}:{n}: JSON line needs a non-empty 'q' field")
            out.append(q.strip())
        else:
            out.append(line)
    return out


def read_history(path: Path) -> list[Message]:
    """The ``--history`` file: a JSON list of user/assistant messages (a usage error if not)."""
    where = f"--history {path}"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read: {exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise UsageError(f"{where}: expected a JSON list of messages, got {type(data).__name__}")
    out: list[Message] = []
    for n, item in enumerate(data, 1):
        role = item.get("role") if isinstance(item, dict) else None
        content = item.get("content") if isinstance(item, dict) else None
        if role not in ("user", "assistant") or not isinstance(content, str):
            raise UsageError(
                f'{where}: message {n} must be an object with "role": "user" or '
                f'"assistant" and a string "content"'
            )
        out.append({"role": role, "content": content})
    return out


# Escapes and other control characters from an abstract must not drive the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
BOLD, PLAIN = "\x1b[1m", "\x1b[22m"


def use_bold() -> bool:
    """Bold spans only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def quote_text(c: Citation, bold: bool) -> str:
    """The quote with its answering span in bold (or plain, off a terminal)."""
    quote = c.quote
    at = c.span_start
    if c.span and (at is None or quote[at : at + len(c.span)] != c.span):
        at = quote.find(c.span)  # an offset that does not fit: find the span instead
    if not bold or not c.span or at is None or at < 0:
        return _CONTROL.sub(" ", quote)
    end = at + len(c.span)
    parts = (quote[:at], quote[at:end], quote[end:])
    before, span, after = (_CONTROL.sub(" ", p) for p in parts)
    return f"{before}{BOLD}{span}{PLAIN}{after}"


def _print_list(ans: Answer, bold: bool) -> None:
    for n, c in enumerate(ans.citations, 1):
        print(f"\n{n}. {_CONTROL.sub(' ', c.title)} ({c.paper_id})")
        print(f"   \u201c{quote_text(c, bold)}\u201d")
    if ans.more:
        print(f"\n... and {ans.more} more paper{'s' if ans.more != 1 else ''}")


def _print_answer(ans: Answer, streamed: bool) -> None:
    if not streamed or ans.abstained:
        print(ans.answer)
    if ans.standalone_question and ans.standalone_question != ans.question:
        print(f"(understood as: {_CONTROL.sub(' ', ans.standalone_question)})")
    bold = use_bold()
    if ans.kind == "list":
        _print_list(ans, bold)
    else:
        for c in ans.citations:
            print(f"\n[{c.marker}] {_CONTROL.sub(' ', c.title)} ({c.paper_id})", end="")
            print(f"\n    \u201c{quote_text(c, bold)}\u201d")
    if ans.abstained and ans.retrieved:
        print("\nClosest papers: " + "; ".join(r.title for r in ans.retrieved[:3]))
    if ans.dropped_sources:
        print(f"\n(sources left out to fit the context: {', '.join(ans.dropped_sources)})")


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.service import Assistant

    if bool(args.question) == bool(args.questions_file):
        raise UsageError("give either a QUESTION or --questions-file")
    questions = _read_questions(args.questions_file) if args.questions_file else [args.question]
    history = read_history(args.history) if args.history else []
    # the model, the embedder and the keyword index are made in the background while the
    # store opens (closing the assistant joins those threads)
    with Assistant(settings, preload=True) as assistant:
        _answer_all(assistant, questions, args, history)
    return 0


def _answer_all(
    assistant: Assistant, questions: list[str], args: argparse.Namespace, history: list[Message]
) -> None:
    for q in questions:
        stream = not args.json and len(questions) == 1
        shown: list[str] = []

        def show(sentence: str, stream: bool = stream, shown: list[str] = shown) -> None:
            if stream:
                shown.append(sentence)
                print(sentence, end=" ", flush=True)

        def draft(piece: str) -> None:
            sys.stderr.write(piece)
            sys.stderr.flush()

        ans = assistant.ask(
            q, history=history, on_sentence=show, on_token=draft if args.draft else None
        )
        streamed = bool(shown)  # a list answer is not streamed: its text is printed below
        if args.draft:
            sys.stderr.write("\n")
        if args.json:
            emit_json(ans.model_dump(mode="json", exclude={"raw_model_text"}))
        else:
            if len(questions) > 1:
                print(f"\nQ: {q}")
            if streamed and not ans.abstained:
                print()
            _print_answer(ans, streamed)


def _select(papers: list[Paper], args: argparse.Namespace) -> list[Paper]:
    if args.all:
        return papers
    if args.since:
        return [p for p in papers if p.published and p.published >= args.since]
    by_id = {p.paper_id: p for p in papers}
    missing = [i for i in args.paper if i not in by_id]
    if missing:
        raise InputError(f"unknown paper id(s): {', '.join(missing)}; see `assistant papers list`")
    return [by_id[i] for i in args.paper]


def _export_format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = str(args.out.suffix).lstrip(".") if args.out else ""
    if suffix in ("csv", "md", "jsonl"):
        return suffix
    return "jsonl"


def cmd_tldr(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from assistant.journal import export, render_export
    from assistant.service import Assistant

    fmt = _export_format(args)
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    concurrency = args.concurrency
    if concurrency > 1 and not settings.llm_base_url:
        print("--concurrency: the in-process model runs one paper at a time", file=sys.stderr)
        concurrency = 1
    if concurrency > settings.model_slots:  # the model's gate must let them all in
        settings = settings.model_copy(update={"model_slots": concurrency})
    with Assistant(settings, write=True) as assistant:
        papers = _select(assistant.library.papers(), args)
        if not papers:
            print("no papers selected", file=sys.stderr)
            return 1
        if args.force:
            assistant.journal.forget(set(assistant.journal.records) - {p.paper_id for p in papers})
        bar = tqdm(
            total=len(papers),
            desc="TL;DR",
            unit="paper",
            file=sys.stderr,
            disable=True if args.quiet else None,
        )

        def done(record: Tldr, reused: bool) -> None:
            bar.update(1)
            bar.set_postfix_str("reused" if reused else record.method)

        records = assistant.tldrs(papers, on_done=done, concurrency=concurrency)
        bar.close()
    if args.out:
        export(records, args.out, fmt)
        print(f"wrote {len(records)} TL;DRs to {args.out}", file=sys.stderr)
        if args.json:
            emit_json({"out": str(args.out), "format": fmt, "count": len(records)})
    elif args.json or fmt == "jsonl" and args.format:
        sys.stdout.write(render_export(records, "jsonl"))
    elif args.format:
        sys.stdout.write(render_export(records, fmt))
    else:
        for r in records:
            print(f"{r.title}\n  {r.tldr}  [{r.method}, support {r.support:.2f}]")
    return 0
