"""The Gradio front end: the only module that imports gradio.

``create_app(assistant)`` builds the Blocks; ``start``/``launch`` serve it with the hardened
defaults (see docs and ``ui/guard.py``): loopback bind unless auth is set, no share link, no
analytics, SSR off, bounded queue, one concurrency group ("model", limit 1) for every event that
runs the model or the embedder, no extra file routes, data and model directories blocked.
All behaviour lives in ``ui/actions.py`` and ``assistant/``; all HTML comes from ``ui/render.py``.
"""

from __future__ import annotations

import os

# Before gradio is imported: no usage analytics, no telemetry, no version check.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import logging  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.errors import AssistantError  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from ui import actions, render  # noqa: E402
from ui.background import TldrWorker  # noqa: E402
from ui.guard import blocked_paths, check_bind, free_port  # noqa: E402
from ui.papers import ALL_DATES, ID_COLUMN, PAPER_HEADERS  # noqa: E402
from ui.render import CSS  # noqa: E402

__all__ = ["CSS", "MODEL_GROUP", "Running", "create_app", "launch", "start"]

log = logging.getLogger(__name__)

MODEL_GROUP = "model"  # the one concurrency group for everything that runs the model/embedder
TLDR_GROUP = "tldrs"  # the "Generate missing TL;DRs" button: one run at a time
POLL_S = 2.0  # how often an open page asks for TL;DR progress (a cheap, queue-less call)
# The table takes the window's height less the status line, tabs, search row and progress line
# (render.CSS; gradio's max_height takes pixels only, so it is just the upper bound).
TABLE_MAX_PX = 4000
SELECT_HINT = "Select a paper to read its abstract and TL;DR."
FOCUS_QUESTION = "() => { document.querySelector('#pa-question textarea')?.focus(); }"


@dataclass
class Running:
    """A started UI: its Blocks, the URL it answers on, how long start-up took, and the worker
    writing missing TL;DRs in the background."""

    app: gr.Blocks
    url: str
    seconds: float
    tldrs: TldrWorker

    def close(self) -> None:
        self.tldrs.stop()  # after the paper in flight: the store closes next
        self.app.close()


def _chatbot_value(state: actions.ChatState) -> list[dict[str, str]]:
    return [dict(m) for m in state.display]


def create_app(
    assistant: Assistant, worker: TldrWorker | None = None, *, auto_tldrs: bool = False
) -> gr.Blocks:
    """The Blocks. ``worker`` writes TL;DRs in the background (one is made when not given);
    ``auto_tldrs``: after an ingest, missing TL;DRs are written without a click."""
    settings = assistant.settings
    max_mb = settings.max_upload_mb
    tldrs = worker or TldrWorker(assistant)
    slots = assistant.model_slots  # 1 in-process; model_slots against a model server

    def ask(
        message: str, state: dict[str, Any]
    ) -> Iterator[tuple[list[dict[str, str]], str, dict[str, Any]]]:
        chat = actions.ChatState.from_dict(state)
        for step in actions.chat_turn(assistant, message or "", chat):
            yield _chatbot_value(step), "", step.to_dict()

    def ask_example(
        state: dict[str, Any], evt: gr.SelectData
    ) -> Iterator[tuple[list[dict[str, str]], str, dict[str, Any]]]:
        value = evt.value if isinstance(evt.value, dict) else {}
        yield from ask(str(value.get("text", "")), state)

    def new_chat() -> tuple[list[dict[str, str]], str, dict[str, Any]]:
        return [], "", actions.ChatState().to_dict()

    def refresh() -> tuple[str, list[list[str]]]:
        return actions.status_line(assistant), actions.papers_table(assistant)

    def filtered(query: str, date: str) -> tuple[list[list[str]], Any, str]:
        view = actions.papers_view(assistant, query, date)
        dates = gr.Dropdown(choices=view.dates)
        return view.rows, dates, actions.tldr_progress(assistant, tldrs)

    def tick(query: str, date: str, seen: str) -> tuple[str, Any, str]:
        """Poll: the progress line always, the table only when a TL;DR landed since last time."""
        snap = tldrs.progress()
        key = f"{len(assistant.journal.records)}/{snap.runs}/{snap.state}"
        progress = actions.tldr_progress(assistant, tldrs)
        if key == seen:
            return progress, gr.skip(), seen
        return progress, actions.papers_view(assistant, query, date).rows, key

    def show_paper(evt: gr.SelectData) -> tuple[str, str | None, Any]:
        row = evt.row_value if isinstance(evt.row_value, list) else []
        if not row:
            return render.esc(SELECT_HINT), None, gr.Button(interactive=False)
        html, paper_id = actions.paper_details(assistant, str(row[ID_COLUMN]))
        return html, paper_id, gr.Button(interactive=paper_id is not None)

    def ask_about(paper_id: str | None) -> tuple[str, Any]:
        text = actions.ask_prefill(assistant, paper_id)
        return text, gr.Tabs(selected="chat" if text else "papers")

    def generate(progress: gr.Progress = gr.Progress()) -> tuple[str, list[list[str]]]:  # noqa: B008
        def step(done: int, total: int, title: str) -> None:
            progress((done, total), desc=f"TL;DR {done}/{total}: {title[:60]}", unit="papers")

        message = actions.generate_missing_tldrs(assistant, tldrs, step)
        return message, actions.papers_table(assistant)

    def ingest(
        text: str | None, files: list[str] | str | None
    ) -> tuple[str, str, list[list[str]], None]:
        paths = [files] if isinstance(files, str) else list(files or [])
        named = [(Path(p), Path(p).name) for p in paths]
        try:
            report = actions.ingest_inputs(assistant, text, named, max_bytes=max_mb * 1024 * 1024)
            summary = render.ingest_summary_html(report)
            if auto_tldrs and (report.added or report.updated):
                tldrs.kick()
        except AssistantError as exc:
            summary = render.error_html(f"Nothing ingested: {exc}")
        finally:
            for p, _ in named:  # uploads are parsed; don't keep them in gradio's cache
                p.unlink(missing_ok=True)
        return summary, actions.status_line(assistant), actions.papers_table(assistant), None

    first = actions.papers_view(assistant)
    demo = gr.Blocks(title="Paper abstracts assistant", analytics_enabled=False)
    with demo:
        status = gr.Markdown(
            actions.status_line(assistant), sanitize_html=True, latex_delimiters=[],
            elem_id="pa-status",
        )  # fmt: skip
        state = gr.State(actions.ChatState().to_dict())
        selected = gr.State(None)  # paper_id shown in the Papers tab's detail pane
        seen = gr.State("")  # what the table showed at the last poll
        with gr.Tabs(elem_id="pa-tabs") as tabs:
            with gr.Tab("Chat", id="chat"):
                chatbot = gr.Chatbot(
                    value=[],
                    label="Answers (every sentence is checked against the cited abstract)",
                    elem_id="pa-chat",
                    height=520,
                    sanitize_html=True,
                    render_markdown=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    line_breaks=False,
                    feedback_options=None,
                    allow_file_downloads=False,
                    buttons=["copy"],
                    examples=[{"text": q} for q in actions.EXAMPLE_QUESTIONS],
                    placeholder="Ask a question about the indexed papers, or pick an example.",
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Ask about the indexed papers…",
                        show_label=False,
                        scale=8,
                        max_length=actions.MAX_QUESTION_CHARS,
                        elem_id="pa-question",
                        autofocus=True,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="pa-ask")
                    clear = gr.Button("New chat", scale=1, elem_id="pa-new-chat")
            with gr.Tab("Papers", id="papers"), gr.Row(equal_height=False):
                with gr.Column(scale=7, min_width=560):
                    with gr.Row(elem_id="pa-paper-tools"):
                        search = gr.Textbox(
                            placeholder="Search titles, TL;DRs, authors, abstracts, ids…",
                            show_label=False, scale=5, elem_id="pa-search", container=False,
                        )  # fmt: skip
                        date = gr.Dropdown(
                            choices=first.dates, value=ALL_DATES, show_label=False,
                            scale=2, min_width=150, elem_id="pa-date", container=False,
                        )  # fmt: skip
                        reload = gr.Button(
                            "Refresh", size="sm", scale=1, min_width=80, elem_id="pa-refresh"
                        )
                    progress_line = gr.Markdown(
                        actions.tldr_progress(assistant, tldrs), sanitize_html=True,
                        latex_delimiters=[], elem_id="pa-tldr-progress",
                    )  # fmt: skip
                    table = gr.Dataframe(
                        value=first.rows,
                        headers=PAPER_HEADERS,
                        datatype="str",
                        interactive=False,
                        wrap=False,
                        line_breaks=False,
                        max_height=TABLE_MAX_PX,
                        column_widths=["10%", "30%", "39%", "9%", "12%"],
                        elem_id="pa-papers",
                        show_label=False,
                    )
                with gr.Column(scale=3, min_width=320, elem_id="pa-detail"):
                    ask_paper = gr.Button(
                        "Ask about this paper", variant="primary", interactive=False,
                        elem_id="pa-ask-paper",
                    )  # fmt: skip
                    abstract = gr.Markdown(
                        render.esc(SELECT_HINT), sanitize_html=True, latex_delimiters=[],
                        elem_id="pa-abstract",
                    )  # fmt: skip
                    gen = gr.Button(
                        "Generate missing TL;DRs now", size="sm", elem_id="pa-gen-tldrs"
                    )
                    gen_msg = gr.Markdown(sanitize_html=True, latex_delimiters=[])
            with gr.Tab("Ingest", id="ingest"):
                paste = gr.Textbox(
                    label="Paste papers (HF daily listing, JSONL, JSON, CSV or arXiv Atom)",
                    lines=8,
                    max_length=max_mb * 1024 * 1024,
                    elem_id="pa-paste",
                )
                upload = gr.File(
                    label=f"…or upload files ({', '.join(actions.ALLOWED_SUFFIXES)}; "
                    f"up to {max_mb} MB each)",
                    file_count="multiple",
                    file_types=list(actions.ALLOWED_SUFFIXES),
                    type="filepath",
                    elem_id="pa-upload",
                )
                go = gr.Button("Ingest", variant="primary", elem_id="pa-ingest")
                summary = gr.Markdown(sanitize_html=True, latex_delimiters=[], elem_id="pa-summary")
        timer = gr.Timer(POLL_S)

        chat_out = [chatbot, box, state]
        box.submit(
            ask,
            [box, state],
            chat_out,
            api_name="ask",
            concurrency_id=MODEL_GROUP,
            concurrency_limit=slots,
        )
        send.click(
            ask,
            [box, state],
            chat_out,
            api_visibility="private",
            concurrency_id=MODEL_GROUP,
            concurrency_limit=slots,
        )
        chatbot.example_select(
            ask_example,
            [state],
            chat_out,
            api_visibility="private",
            concurrency_id=MODEL_GROUP,
            concurrency_limit=slots,
        )
        view = [table, date, progress_line]
        # Not in the model group: the batch yields to questions paper by paper (assistant.turns),
        # so holding the group's one slot for the whole batch would only make questions wait.
        gen.click(
            generate,
            None,
            [gen_msg, table],
            api_name="generate_tldrs",
            concurrency_id=TLDR_GROUP,
            concurrency_limit=1,
        ).then(filtered, [search, date], view, queue=False, api_visibility="private")
        go.click(
            ingest,
            [paste, upload],
            [summary, status, table, upload],
            api_name="ingest",
            concurrency_id=MODEL_GROUP,
            concurrency_limit=slots,
        ).then(filtered, [search, date], view, queue=False, api_visibility="private")
        # Light events skip the queue, so they work (and don't count) while the model is busy.
        clear.click(new_chat, None, chat_out, queue=False, api_visibility="private")
        chatbot.clear(new_chat, None, chat_out, queue=False, api_visibility="private")
        table.select(
            show_paper, None, [abstract, selected, ask_paper], queue=False,
            api_visibility="private",
        )  # fmt: skip
        ask_paper.click(
            ask_about, [selected], [box, tabs], queue=False, api_visibility="private"
        ).then(None, js=FOCUS_QUESTION)
        search.change(filtered, [search, date], view, queue=False, api_visibility="private")
        date.change(filtered, [search, date], view, queue=False, api_visibility="private")
        timer.tick(
            tick, [search, date, seen], [progress_line, table, seen], queue=False,
            api_visibility="private",
        )  # fmt: skip
        reload.click(refresh, None, [status, table], api_name="papers", queue=False).then(
            filtered, [search, date], view, queue=False, api_visibility="private"
        )
        demo.load(refresh, None, [status, table], queue=False, api_visibility="private")
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1, api_open=False)
    return demo


def _model_dir(assistant: Assistant) -> Path | None:
    path = getattr(assistant.llm, "model_path", None)
    return Path(path).parent if isinstance(path, Path) else None


def _warm_up(assistant: Assistant, tldrs: TldrWorker) -> None:
    """Load the embedder and model in the background so the first answer is fast, then write
    the missing TL;DRs (questions still go first, paper by paper)."""
    try:
        assistant.warm_up()
    except Exception:  # the first question will report the same problem to the user
        log.warning("warm-up failed", exc_info=True)
    tldrs.kick()  # a failure shows in the Papers tab


def start(
    assistant: Assistant, settings: Settings | None = None, *, warm: bool = True,
    quiet: bool = True,
) -> Running:  # fmt: skip
    """Build and serve the app in background threads; returns once it answers.

    ``warm``: once the page is served, load the models and then write missing TL;DRs in the
    background (and again after each ingest). Tests that drive the model themselves pass False.
    """
    settings = settings or assistant.settings
    t0 = time.perf_counter()
    credentials = check_bind(settings.host, settings.auth)  # refuses before anything listens
    port = settings.port or free_port(settings.host)
    tldrs = TldrWorker(assistant)
    demo = create_app(assistant, tldrs, auto_tldrs=warm)
    _, url, _ = demo.launch(
        server_name=settings.host,
        server_port=port,
        share=False,
        auth=credentials,
        prevent_thread_lock=True,
        quiet=quiet,
        show_error=False,
        max_file_size=f"{settings.max_upload_mb}mb",
        blocked_paths=blocked_paths([settings.data_dir, _model_dir(assistant)]),
        ssr_mode=False,
        enable_monitoring=False,
        run_history=False,
        pwa=False,
        mcp_server=False,
        footer_links=["api", "settings"],
        css=CSS,
    )
    seconds = time.perf_counter() - t0
    if warm:  # after the page is served, so loading the models never delays it
        threading.Thread(target=_warm_up, args=(assistant, tldrs), daemon=True).start()
    return Running(app=demo, url=url, seconds=seconds, tldrs=tldrs)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def launch(assistant: Assistant, settings: Settings | None = None) -> None:
    """Serve until interrupted, printing the URL once the page answers (``assistant ui``)."""
    running = start(assistant, settings, quiet=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly: close the store, drop the lock
    print(f"Paper assistant UI ready in {running.seconds:.1f} s: {running.url}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    try:
        running.app.block_thread()
    finally:
        running.close()
