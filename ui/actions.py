"""What the UI's buttons do, as plain functions over an :class:`Assistant` (no gradio here).

``ui/app.py`` only wires these to components; everything below is unit-testable with the
FakeLLM/FakeEmbedder and an ephemeral store.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assistant.errors import AssistantError, BusyError, InputError, UsageError
from assistant.protocols import Message
from assistant.service import Assistant
from assistant.sources import parse_file, parse_text
from assistant.types import Answer, IngestReport, Paper, Rejection
from ui import render

__all__ = [
    "ALLOWED_SUFFIXES",
    "EXAMPLE_QUESTIONS",
    "ChatState",
    "chat_turn",
    "generate_missing_tldrs",
    "ingest_inputs",
    "paper_details",
    "papers_table",
    "status_line",
]

log = logging.getLogger(__name__)

EXAMPLE_QUESTIONS = (
    "How many parameters does Cappy have?",
    "Which paper combines self-supervised and supervised multi-task pre-training for vision?",
    "What does Cappy boost on BIG-Bench?",
)
ALLOWED_SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".xml")
MAX_QUESTION_CHARS = 1000
HISTORY_MESSAGES = 6  # the last three turns go to the model for follow-up questions
PASTED = "pasted text"

ChatMessage = dict[str, str]  # {"role": ..., "content": safe HTML} as the Chatbot shows it


@dataclass
class ChatState:
    """One browser session's conversation: what is shown, and the plain history for the model."""

    display: list[ChatMessage] = field(default_factory=list)
    history: list[Message] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"display": list(self.display), "history": list(self.history)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ChatState:
        data = data or {}
        return cls(display=list(data.get("display", [])), history=list(data.get("history", [])))


# ---- chat ---------------------------------------------------------------------------------

StreamEvent = tuple[Literal["sentence", "done", "error"], Any]


def stream_answer(
    assistant: Assistant, question: str, history: Sequence[Message]
) -> Iterator[StreamEvent]:
    """Run ``assistant.ask`` in a worker thread and yield its verified sentences as they come,
    then ``("done", Answer)`` or ``("error", exception)``. The worker is always joined, so the
    caller's concurrency slot is held until the model is free again."""
    events: queue.Queue[StreamEvent] = queue.Queue()

    def run() -> None:
        try:
            answer = assistant.ask(
                question, history=history, on_sentence=lambda s: events.put(("sentence", s))
            )
            events.put(("done", answer))
        except BaseException as exc:  # reported to the user, never lost in the thread
            events.put(("error", exc))

    worker = threading.Thread(target=run, name="ui-ask", daemon=True)
    worker.start()
    try:
        while True:
            kind, payload = events.get()
            yield kind, payload
            if kind != "sentence":
                return
    finally:
        worker.join()


def _abstracts(assistant: Assistant, answer: Answer) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in answer.citations:
        if c.paper_id in out:
            continue
        try:
            out[c.paper_id] = assistant.library.paper(c.paper_id).abstract
        except AssistantError:
            continue
    return out


def error_message(exc: BaseException) -> str:
    if isinstance(exc, BusyError):
        return render.busy_html()
    if isinstance(exc, AssistantError):
        return render.error_html(f"Error: {exc}")
    log.exception("unexpected error while answering", exc_info=exc)
    return render.error_html(f"Internal error ({type(exc).__name__}); see the server log.")


def chat_turn(assistant: Assistant, question: str, state: ChatState) -> Iterator[ChatState]:
    """One question: yields the state after each verified sentence, then the final answer."""
    question = " ".join(question.split())[:MAX_QUESTION_CHARS]
    if not question:
        yield state
        return
    history = list(state.history[-HISTORY_MESSAGES:])
    state.display.append({"role": "user", "content": render.user_html(question)})
    state.display.append({"role": "assistant", "content": render.answer_html([], pending=True)})
    yield state
    sentences: list[str] = []
    for kind, payload in stream_answer(assistant, question, history):
        if kind == "sentence":
            sentences.append(str(payload))
            state.display[-1]["content"] = render.answer_html(sentences, pending=True)
        elif kind == "done":
            answer: Answer = payload
            state.display[-1]["content"] = render.answer_message(
                answer, _abstracts(assistant, answer)
            )
            state.history += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer.answer},
            ]
        else:
            state.display[-1]["content"] = error_message(payload)
        yield state


# ---- papers -------------------------------------------------------------------------------


def papers_table(assistant: Assistant) -> list[list[str]]:
    papers = assistant.library.papers()[::-1]  # newest first; the table can re-sort
    tldrs = {}
    for p in papers:
        record = assistant.stored_tldr(p.paper_id)
        if record is not None:
            tldrs[p.paper_id] = record.tldr
    return render.paper_rows(papers, tldrs)


def paper_details(assistant: Assistant, paper_id: str) -> str:
    try:
        paper = assistant.library.paper(paper_id)
    except AssistantError as exc:
        return render.error_html(str(exc))
    record = assistant.stored_tldr(paper_id)
    return render.paper_html(paper, record.tldr if record else None)


def missing_tldrs(assistant: Assistant) -> list[Paper]:
    provenance = assistant.tldr_config().provenance
    journal = assistant.journal
    return [p for p in assistant.library.papers() if not journal.is_current(p, provenance)]


def generate_missing_tldrs(
    assistant: Assistant, progress: Callable[[int, int, str], None] | None = None
) -> str:
    """TL;DRs for papers without a current one; ``progress(done, total, title)``."""
    try:
        todo = missing_tldrs(assistant)
    except AssistantError as exc:
        return render.error_html(f"Cannot write TL;DRs: {exc}")
    if not todo:
        return render.esc("Every paper already has a TL;DR.")
    done = 0
    if progress:
        progress(0, len(todo), "starting")

    def tick(record: Any, reused: bool) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(todo), str(record.title))

    try:
        assistant.tldrs(todo, on_done=tick)
    except AssistantError as exc:
        if isinstance(exc, BusyError):
            return render.busy_html()
        return render.error_html(f"Stopped after {done} of {len(todo)}: {exc}")
    return render.esc(f"Wrote {done} TL;DR(s).")


# ---- ingest -------------------------------------------------------------------------------


def _rename(rejections: Sequence[Rejection], path: str, name: str) -> list[Rejection]:
    return [
        r.model_copy(update={"file": name, "reason": r.reason.replace(path, name)})
        for r in rejections
    ]


def ingest_inputs(
    assistant: Assistant,
    text: str | None,
    files: Sequence[tuple[Path, str]],
    *,
    max_bytes: int,
) -> IngestReport:
    """Parse pasted ``text`` and uploaded ``files`` ((path on disk, name the user gave)) and add
    their papers. File-level problems become rejections; nothing is written without papers."""
    papers: list[Paper] = []
    rejected: list[Rejection] = []
    if text and text.strip():
        if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
            rejected.append(Rejection(file=PASTED, reason=f"longer than {max_bytes} bytes"))
        else:
            try:
                result = parse_text(text, PASTED)
                papers += [p.model_copy(update={"source": PASTED}) for p in result.papers]
                rejected += result.rejected
            except (InputError, UsageError) as exc:
                rejected.append(Rejection(file=PASTED, reason=str(exc)))
    for path, name in files:
        if Path(name).suffix.lower() not in ALLOWED_SUFFIXES:
            allowed = ", ".join(ALLOWED_SUFFIXES)
            rejected.append(Rejection(file=name, reason=f"file type not accepted (use {allowed})"))
            continue
        try:
            result = parse_file(Path(path), None, max_bytes=max_bytes)
        except (InputError, UsageError) as exc:
            rejected.append(Rejection(file=name, reason=str(exc).replace(str(path), name)))
            continue
        source = f"upload:{name}"
        papers += [p.model_copy(update={"source": source}) for p in result.papers]
        rejected += _rename(result.rejected, str(path), name)
    if not papers:
        return IngestReport(rejected=rejected, files=[n for _, n in files])
    report = assistant.library.ingest(papers, rejected=rejected)
    assistant.retriever.invalidate()
    report.files = [n for _, n in files] + ([PASTED] if text and text.strip() else [])
    return report


# ---- status -------------------------------------------------------------------------------


def status_line(assistant: Assistant) -> str:
    llm = assistant.llm
    model_path = getattr(llm, "model_path", None)
    size: int | None = None
    if isinstance(model_path, Path):
        try:
            size = model_path.stat().st_size
        except OSError:
            size = None
    st = assistant.library.status()
    papers = st.get("papers", 0)
    chunks = st.get("chunks", 0)
    return render.status_html(
        model=str(getattr(llm, "name", "model")),
        model_bytes=size,
        papers=int(papers) if isinstance(papers, int) else 0,
        chunks=int(chunks) if isinstance(chunks, int) else 0,
        data_dir=str(st.get("data_dir", assistant.settings.data_dir)),
    )
