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
from assistant.rewrite import assistant_message
from assistant.service import Assistant
from assistant.sources import parse_file, parse_text
from assistant.types import Answer, IngestReport, Paper, Rejection, Tldr
from ui import papers as papers_mod
from ui import render
from ui.background import TldrProgress, TldrWorker

__all__ = [
    "ALLOWED_SUFFIXES",
    "EXAMPLE_QUESTIONS",
    "ChatState",
    "PapersView",
    "ask_prefill",
    "chat_turn",
    "find_paper",
    "generate_missing_tldrs",
    "ingest_inputs",
    "paper_details",
    "papers_table",
    "papers_view",
    "status_line",
    "tldr_progress",
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
            # The question as resolved ("Which tasks does UniVTG unify?") and the cited titles:
            # the next follow-up's "it" is found from them, however long the chain.
            state.history += [
                {"role": "user", "content": answer.standalone_question or question},
                assistant_message(answer),
            ]
        else:
            state.display[-1]["content"] = error_message(payload)
        yield state


# ---- papers -------------------------------------------------------------------------------


@dataclass
class PapersView:
    """What the Papers tab shows for one search and date: rows, and the ids they stand for."""

    rows: list[list[str]]
    have: int  # papers with a TL;DR, over the whole library
    papers: int
    dates: list[tuple[str, str]]


def _library_view(assistant: Assistant) -> tuple[list[Paper], dict[str, Tldr], dict[str, str]]:
    papers = assistant.library.papers()[::-1]  # newest first; the table can re-sort
    records = assistant.journal.records
    tldrs = {p.paper_id: r for p in papers if (r := records.get(p.paper_id)) is not None}
    return papers, tldrs, papers_mod.short_ids(papers)


def papers_view(
    assistant: Assistant, query: str = "", date: str = papers_mod.ALL_DATES
) -> PapersView:
    papers, tldrs, ids = _library_view(assistant)
    shown = papers_mod.filter_papers(papers, tldrs, ids, query=query or "", date=date or "")
    return PapersView(
        rows=papers_mod.paper_rows(shown, tldrs, ids),
        have=len(tldrs),
        papers=len(papers),
        dates=papers_mod.date_choices(papers),
    )


def papers_table(assistant: Assistant) -> list[list[str]]:
    return papers_view(assistant).rows


def find_paper(assistant: Assistant, shown_id: str) -> Paper | None:
    """The paper behind a table row's (short) id."""
    papers, _, ids = _library_view(assistant)
    for p in papers:
        if ids.get(p.paper_id) == shown_id or p.paper_id == shown_id:
            return p
    return None


def paper_details(assistant: Assistant, shown_id: str) -> tuple[str, str | None]:
    """The detail pane's HTML for a row, and the paper_id it shows (None if not found)."""
    try:
        paper = find_paper(assistant, shown_id)
    except AssistantError as exc:
        return render.error_html(str(exc)), None
    if paper is None:
        return render.error_html(f"No paper {shown_id!r} (deleted?); press Refresh."), None
    record = assistant.stored_tldr(paper.paper_id)
    return render.paper_html(paper, record, shown_id=shown_id), paper.paper_id


def ask_prefill(assistant: Assistant, paper_id: str | None) -> str:
    """The chat box text for "Ask about this paper" ("" when no paper is selected)."""
    if not paper_id:
        return ""
    try:
        return papers_mod.ask_prefill(assistant.library.paper(paper_id))
    except AssistantError:
        return ""


def tldr_progress(assistant: Assistant, worker: TldrWorker | None) -> str:
    """The progress line. Every open page polls it, so it counts instead of listing papers (a
    deleted paper's record can linger in the journal: the count is capped at the papers)."""
    papers = assistant.library.store.count_papers()
    have = min(len(assistant.journal.records), papers)
    snap = worker.progress() if worker is not None else TldrProgress()
    return render.tldr_progress_html(
        state=snap.state, done=snap.done, total=snap.total, current=snap.current,
        error=snap.error, have=have, papers=papers,
    )  # fmt: skip


def generate_missing_tldrs(
    assistant: Assistant,
    worker: TldrWorker,
    progress: Callable[[int, int, str], None] | None = None,
) -> str:
    """Run the background worker now and wait for it; ``progress(done, total, title)``."""

    def tick(snap: TldrProgress) -> None:
        if progress is not None and snap.state == "running":
            progress(snap.done, snap.total, snap.current or "starting")

    snap = worker.run_now(tick)
    if snap.state == "failed":
        return render.error_html(snap.error)
    if snap.written == 0:
        return render.esc("Every paper already has a TL;DR.")
    return render.esc(f"Wrote {snap.written} TL;DR(s).")


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
    with assistant.turns.foreground_turn():  # not in the middle of a background TL;DR
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
