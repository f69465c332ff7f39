"""The Papers tab without a browser: short ids, search and date filter, the detail pane, and the
background TL;DR worker with its priority rule (a question goes before the batch's next paper).

Everything runs on the FakeLLM, the FakeEmbedder and an ephemeral Chroma store.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.protocols import Message
from assistant.service import Assistant
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM, user_text
from assistant.turns import Turns
from assistant.types import Paper, Tldr
from ui import actions, render
from ui.background import TldrWorker
from ui.papers import ALL_DATES, date_choices, filter_papers, short_id, short_ids
from vectorstore.chroma import ChromaStore

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).parents[1] / "assistant" / "data" / "hf_daily_sample.txt"


def _assistant(tmp_path: Path, llm: FakeLLM, papers: list[Paper]) -> Assistant:
    settings = Settings(data_dir=tmp_path, relevance_floor=0.2)
    store = ChromaStore(None, f"papers-{uuid.uuid4().hex[:12]}")
    assistant = Assistant(settings, write=True, llm=llm, embedder=FakeEmbedder(), store=store)
    assistant.library.ingest(papers)
    return assistant


# ---- short ids, search, dates -------------------------------------------------------------


def test_short_ids_are_short_unique_and_keep_arxiv_ids() -> None:
    papers = parse_file(SAMPLE).papers
    ids = short_ids(papers)
    assert len(set(ids.values())) == len(papers)  # every row maps back to one paper
    assert all(len(v) <= 18 for v in ids.values()), [v for v in ids.values() if len(v) > 18]
    by_title = {p.title.split(":")[0]: ids[p.paper_id] for p in papers}
    assert by_title["Cappy"] == "cappy"
    tree = next(p for p in papers if p.title.startswith("Tree-of-Code"))
    assert tree.paper_id.startswith("tree-of-code-a-tree-structured")  # stored id unchanged
    assert len(ids[tree.paper_id]) < len(tree.paper_id)
    arxiv = Paper.build(title="Cappy: a scorer", abstract="A.", arxiv_id="2311.06720")
    assert short_id(arxiv) == "2311.06720"


def test_clashing_short_ids_fall_back_to_the_full_id() -> None:
    a = Paper.build(title="Cappy: one scorer", abstract="A.")
    b = Paper.build(title="Cappy: another scorer", abstract="B.")
    ids = short_ids([a, b])
    assert ids == {a.paper_id: a.paper_id, b.paper_id: b.paper_id}


def test_search_matches_every_word_anywhere_and_the_date_filter() -> None:
    papers = [
        Paper.build(title="Cappy: a scorer", abstract="Small.", published=date(2023, 11, 11)),
        Paper.build(title="Other", abstract="Vision pre-training.", published=date(2023, 10, 11)),
    ]
    ids = short_ids(papers)
    tl = {
        papers[1].paper_id: Tldr(
            paper_id=papers[1].paper_id,
            title="Other",
            tldr="Heuristic detection on COCO.",
            method="extractive",
            support=1.0,
            words=4,
        )  # fmt: skip
    }
    assert filter_papers(papers, tl, ids, query="CAPPY") == [papers[0]]
    assert filter_papers(papers, tl, ids, query="COCO vision") == [papers[1]]  # TL;DR + abstract
    assert filter_papers(papers, tl, ids, query="cappy coco") == []
    assert filter_papers(papers, tl, ids, date="2023-10-11") == [papers[1]]
    assert filter_papers(papers, tl, ids, date=ALL_DATES) == papers
    assert date_choices(papers) == [
        ("All dates", ALL_DATES),
        ("2023-11-11 (1)", "2023-11-11"),
        ("2023-10-11 (1)", "2023-10-11"),
    ]


def test_detail_pane_and_ask_prefill_name_the_paper(tmp_path: Path) -> None:
    papers = parse_file(DATA / "ui_papers.jsonl").papers
    assistant = _assistant(tmp_path, FakeLLM(), papers)
    view = actions.papers_view(assistant, "cappy")
    assert len(view.rows) == 1 and view.papers == 3 and view.have == 0
    html, paper_id = actions.paper_details(assistant, view.rows[0][-1])
    assert paper_id == "2311.06720" and "360 million" in html and "not written yet" in html
    prefill = actions.ask_prefill(assistant, paper_id)
    assert "Cappy: Outperforming and Boosting" in prefill
    assert actions.ask_prefill(assistant, None) == ""
    missing, none = actions.paper_details(assistant, "no-such-paper")
    assert none is None and "No paper" in missing


def test_progress_line_says_how_many_have_tldrs_and_what_runs() -> None:
    running = render.tldr_progress_html(
        state="running", done=3, total=54, current="Cappy <b>", error="", have=3, papers=54
    )
    assert "3 of 54" in running and "3/54" in running and "<progress" in running
    assert "<b>" not in running.replace("<b>3 of 54</b>", "")  # the title is escaped
    failed = render.tldr_progress_html(
        state="failed", done=1, total=5, current="", error="model <x>", have=1, papers=5
    )
    assert "pa-error" in failed and "<x>" not in failed


# ---- priority: a question before the batch's next paper ----------------------------------


def test_turns_let_a_waiting_question_in_before_the_next_background_item() -> None:
    turns = Turns()
    order: list[str] = []
    in_item = threading.Event()
    release = threading.Event()

    def batch() -> None:
        for i in range(3):
            with turns.background_turn():
                order.append(f"item{i}")
                if i == 0:
                    in_item.set()
                    release.wait(5)

    def question() -> None:
        with turns.foreground_turn():
            order.append("question")

    worker = threading.Thread(target=batch)
    worker.start()
    assert in_item.wait(5)
    asker = threading.Thread(target=question)
    asker.start()
    deadline = time.monotonic() + 5
    while turns.foreground == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert order == ["item0"], "a question must wait for the item in flight"
    release.set()
    worker.join(5)
    asker.join(5)
    assert order == ["item0", "question", "item1", "item2"]


def test_background_worker_writes_missing_tldrs_and_a_question_goes_first(
    tmp_path: Path,
) -> None:
    papers = parse_file(DATA / "ui_papers.jsonl").papers
    titles = {p.title: p.paper_id for p in papers}
    seen: list[str] = []  # "answer", or the paper_id a TL;DR call was about
    holder: dict[str, Assistant] = {}
    asked = threading.Event()
    answers: list[str] = []

    def ask() -> None:
        answers.append(holder["a"].ask("How many parameters does Cappy have?").answer)

    def responder(messages: list[Message]) -> str:
        text = user_text(messages)
        if "Question:" in text or "Follow-up question:" in text:
            seen.append("answer")
            return "Cappy has 360 million parameters [1]."
        seen.append(next(pid for title, pid in titles.items() if title in text))
        if not asked.is_set():  # during the first paper, a person asks a question
            asked.set()
            threading.Thread(target=ask, daemon=True).start()
            deadline = time.monotonic() + 5
            while holder["a"].turns.foreground == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        return "a small scorer with 360 million parameters."

    assistant = _assistant(tmp_path, FakeLLM(responder=responder), papers)
    holder["a"] = assistant
    worker = TldrWorker(assistant)
    worker.kick()
    snap = worker.wait(timeout=60)
    assert snap.state == "done" and snap.written == 3 and snap.done == snap.total == 3
    assert set(assistant.journal.records) == set(titles.values())
    first_paper = seen[0]
    first_answer = seen.index("answer")
    later = [s for s in seen[first_answer:] if s not in ("answer", first_paper)]
    assert later, seen
    # every call before the answer was about the paper in flight: the batch waited
    assert set(seen[:first_answer]) == {first_paper}, seen
    assert answers and "360 million" in answers[0]
    # a second run finds nothing missing
    worker.kick()
    again = worker.wait(timeout=30)
    assert again.written == 0 and again.runs == 2


def test_worker_reports_a_failure_in_the_progress_line(tmp_path: Path) -> None:
    from assistant.errors import ModelError

    llm = FakeLLM()
    llm.enqueue(ModelError("the model file is gone"))
    papers = parse_file(DATA / "ui_papers.jsonl").papers[:1]
    assistant = _assistant(tmp_path, llm, papers)
    worker = TldrWorker(assistant)
    worker.kick()
    snap = worker.wait(timeout=30)
    assert snap.state == "failed" and "model file is gone" in snap.error
    assert "model file is gone" in actions.tldr_progress(assistant, worker)


@pytest.mark.parametrize("written", [0, 2])
def test_generate_button_message(tmp_path: Path, written: int) -> None:
    papers = parse_file(DATA / "ui_papers.jsonl").papers[:2]
    assistant = _assistant(tmp_path, FakeLLM(default_text="a small scorer."), papers)
    worker = TldrWorker(assistant)
    if written == 0:
        worker.run_now()
    message = actions.generate_missing_tldrs(assistant, worker)
    assert (f"Wrote {written}" in message) if written else ("already has" in message)
