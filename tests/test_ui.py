"""The Gradio UI: safe rendering, launch guards, and the running app driven by gradio_client.

Unit tests cover ui/render.py and ui/guard.py (no server). API tests launch the real app
in-process on a free loopback port with a FakeLLM, a FakeEmbedder and an ephemeral Chroma
store, then talk to it with gradio_client exactly as a remote client would. One integration test
runs the real model and embedder over the sample corpus.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import functools
import html as html_lib
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.errors import UsageError
from assistant.protocols import Message
from assistant.service import Assistant
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM, user_text
from assistant.types import (
    Answer,
    Citation,
    IngestReport,
    Paper,
    Rejection,
    RetrievedRef,
    Tldr,
)
from ui import render
from ui.guard import blocked_paths, check_bind, is_loopback, parse_auth
from ui.papers import PAPER_HEADERS, paper_rows, short_ids
from vectorstore.chroma import ChromaStore

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).parents[1] / "assistant" / "data" / "hf_daily_sample.txt"
PAYLOAD = (
    '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> '
    "![](http://example.invalid/x.png) [click](javascript:window.__xss=3)"
)


# ---- render: everything untrusted is inert -------------------------------------------------


_TAGS = {"div", "span", "sup", "mark", "blockquote", "a", "b", "code", "ul", "li", "br"}
_ATTRS = {"class", "href", "target", "rel"}


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _no_markup(html: str) -> None:
    """Only our own tags and attributes, links only to http(s), and no markdown, template or
    script-URL syntax in the raw HTML (untrusted text appears only as character references)."""
    for bad in ("![", "](", "javascript:", "${", "{{", "<script", "<img", "<iframe"):
        assert bad not in html.lower(), (bad, html)
    parser = _Markup()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in _TAGS, (tag, html)
        for name, value in attrs:
            assert name in _ATTRS, (tag, name, html)
            if name == "href":
                assert value is not None and value.startswith(("https://", "http://")), value


def test_esc_makes_html_markdown_and_templates_inert() -> None:
    out = render.esc(PAYLOAD + " ${alert(1)} {{constructor}} $x$ `code` a\u2028b\x00c")
    assert "<" not in out and ">" not in out and '"' not in out
    assert "javascript:" not in out and "${" not in out and "{{" not in out and "`" not in out
    assert "](" not in out and "![" not in out
    assert "\u2028" not in out and "\x00" not in out
    assert render.esc("line one\nline two") == "line one<br>line two"
    assert render.esc(None) == ""


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://arxiv.org/abs/2311.06720", True),
        ("http://example.org/paper.pdf", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox", False),
        ("//evil.example/x", False),
        ("/relative/path", False),
        ("http://", False),
        ('https://x.org/"onmouseover="alert(1)', False),
        ("https://x.org/a b", False),
        (None, False),
        ("", False),
    ],
)
def test_safe_url_allows_only_absolute_http_links(url: str | None, ok: bool) -> None:
    assert (render.safe_url(url) is not None) is ok


def test_answer_html_strips_model_markup_and_marks_citations() -> None:
    html = render.answer_html([f"Cappy has 360 million parameters [1]. {PAYLOAD}"])
    _no_markup(html)
    for gone in ("onerror", "__xss", "example.invalid"):  # model markup is removed
        assert gone not in html, gone
    assert '<sup class="pa-cite">&#91;1&#93;</sup>' in html
    assert "360 million parameters" in html
    assert html.startswith("<div") and "\n" not in html  # one HTML block, no markdown inside


def _citation(**kw: Any) -> Citation:
    base = dict(
        marker=1, paper_id="p1", title="Cappy <b>bold</b>", chunk_id="p1:0",
        quote="With merely 360 million parameters, Cappy works.",
        url="https://arxiv.org/abs/2311.06720", published="2023-11-11", authors="6 authors",
    )  # fmt: skip
    return Citation(**(base | kw))


def test_source_card_escapes_everything_and_links_only_http() -> None:
    abstract = f"Intro {PAYLOAD} text. With merely 360 million parameters, Cappy works. {PAYLOAD}"
    html = render.sources_html([_citation()], {"p1": abstract})
    _no_markup(html)
    assert "<b>" not in html and "&#60;b&#62;bold" in html
    assert "<mark>With merely 360 million parameters, Cappy works.</mark>" in html
    assert 'href="https&#58;//arxiv.org/abs/2311.06720"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    bad = render.sources_html([_citation(url="javascript:alert(1)")])
    assert "href" not in bad and "javascript" not in bad.lower()


def test_abstention_lists_closest_papers_escaped() -> None:
    answer = Answer(
        question="q", answer="I can't answer that from the indexed abstracts.", abstained=True,
        retrieved=[RetrievedRef(paper_id="x", title="<script>alert(1)</script>Near", score=0.1)],
    )  # fmt: skip
    html = render.answer_message(answer)
    assert "You may mean" in html and "Near" in html
    _no_markup(html)
    empty = render.answer_message(answer.model_copy(update={"retrieved": []}))
    assert "No indexed paper is close" in empty


def test_paper_html_and_rows_and_ingest_summary_are_escaped() -> None:
    paper = Paper.build(
        title="T <img src=x onerror=alert(1)>", abstract=f"Abstract {PAYLOAD}",
        arxiv_id="2399.1", url="javascript:alert(1)",
    )  # fmt: skip
    record = Tldr(
        paper_id=paper.paper_id, title=paper.title, tldr=f"TLDR {PAYLOAD}", method="generated",
        support=0.8, words=3,
    )  # fmt: skip
    html = render.paper_html(paper, record)
    _no_markup(html)
    assert "href" not in html and "generated" in html
    rows = paper_rows([paper], {paper.paper_id: record}, short_ids([paper]))
    assert rows == [["", paper.title, record.tldr, "generated", "2399.1"]]  # plain text cells
    report = IngestReport(
        added=["a"], rejected=[Rejection(file="<x>.jsonl", record=2, reason="bad <script>")]
    )
    summary = render.ingest_summary_html(report)
    assert "added 1" in summary and "rejected 1" in summary
    _no_markup(summary)


def test_status_html() -> None:
    html = render.status_html(
        model="SmolLM2", model_bytes=98_000_000, papers=3, chunks=7, data_dir="/d<ir>"
    )
    assert "98.0 MB" in html and "3 papers" in html and "7 chunks" in html
    assert "<ir>" not in html


# ---- guard: loopback unless authenticated --------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_hosts_need_no_auth(host: str) -> None:
    assert is_loopback(host)
    assert check_bind(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", "10.0.0.1"])
def test_non_loopback_host_refused_without_auth(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(UsageError, match="without authentication"):
        check_bind(host, None)
    assert check_bind(host, "me:s3cret:x") == ("me", "s3cret:x")


@pytest.mark.parametrize("auth", ["nopassword", ":pw", "user:", " : "])
def test_malformed_auth_is_a_usage_error(auth: str) -> None:
    with pytest.raises(UsageError):
        parse_auth(auth)


def test_blocked_paths_are_absolute_and_unique(tmp_path: Path) -> None:
    out = blocked_paths([tmp_path, tmp_path / ".", None])
    assert out == [str(tmp_path.resolve())]


def test_cli_ui_refuses_public_host_without_auth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.cli import main

    monkeypatch.delenv("ASSISTANT_AUTH", raising=False)
    rc = main(["ui", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert rc == 2
    assert "without authentication" in capsys.readouterr().err
    assert not (tmp_path / "chroma").exists()  # refused before opening anything


def test_start_refuses_public_host_without_auth(tmp_path: Path) -> None:
    from ui.app import start

    settings = Settings(data_dir=tmp_path, host="0.0.0.0", auth=None)
    assistant = _fake_assistant(settings, FakeLLM())
    with pytest.raises(UsageError, match="without authentication"):
        start(assistant, settings, warm=False)


# ---- the running app, through gradio_client ------------------------------------------------


_SOURCE_BLOCK = re.compile(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\Z)", re.S | re.M)


def grounded_responder(messages: list[Message]) -> str:
    """A FakeLLM that answers like a well-behaved model: the source sentence that best matches
    the question, cited. Rewrites return the follow-up unchanged."""
    user = user_text(messages)
    if "Follow-up question:" in user:
        return user.rsplit("Follow-up question:", 1)[1].strip()
    sources, _, question = user.rpartition("Question:")
    q_words = set(re.findall(r"[a-z0-9]+", question.lower()))
    best = (0, "", 0)
    for marker, text in _SOURCE_BLOCK.findall(sources.split("Sources:", 1)[-1].strip()):
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
            score = len(q_words & set(re.findall(r"[a-z0-9]+", sentence.lower())))
            if score > best[0]:
                best = (score, sentence, int(marker))
    if not best[1]:
        return "I can't answer that from the indexed abstracts."
    return f"{best[1].rstrip('.')} [{best[2]}]."


FAKE_FLOOR = 0.2  # the hashing FakeEmbedder's cosines run lower than MiniLM's


def _fake_assistant(settings: Settings, llm: FakeLLM) -> Assistant:
    store = ChromaStore(None, f"ui-{uuid.uuid4().hex[:12]}")
    return Assistant(settings, write=True, llm=llm, embedder=FakeEmbedder(), store=store)


def _papers(path: Path) -> list[Paper]:
    return parse_file(path).papers


class App:
    def __init__(self, url: str, assistant: Assistant, running: Any) -> None:
        self.url, self.assistant, self.running = url, assistant, running

    def client(self) -> Any:
        from gradio_client import Client

        return Client(self.url, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    from ui.app import start

    started: list[Any] = []

    def make(
        llm: FakeLLM | None = None, *, queue_size: int = 8, papers: bool = True, **more: Any
    ) -> App:
        settings = Settings(
            data_dir=tmp_path, host="127.0.0.1", port=0, queue_size=queue_size,
            relevance_floor=more.pop("relevance_floor", FAKE_FLOOR), **more,
        )  # fmt: skip
        assistant = _fake_assistant(settings, llm or FakeLLM(responder=grounded_responder))
        if papers:
            assistant.library.ingest(_papers(DATA / "ui_papers.jsonl"))
        running = start(assistant, settings, warm=False)
        started.append(running)
        return App(running.url, assistant, running)

    yield make
    for running in started:
        running.close()


def _text(fragment: str) -> str:
    """What the user reads: tags dropped, character references decoded."""
    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment))


def _assistant_text(chat: list[dict[str, Any]]) -> str:
    last = chat[-1]
    assert last["role"] == "assistant"
    content = last["content"]
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def test_question_returns_cited_grounded_answer(make_app: Callable[..., App]) -> None:
    app = make_app()
    chat, box = app.client().predict("How many parameters does Cappy have?", api_name="/ask")
    html = _assistant_text(chat)
    assert box == ""
    assert "360 million parameters" in html
    assert 'class="pa-cite"' in html and 'class="pa-card"' in html
    assert "<mark>" in html and "Cappy" in html
    assert 'href="https&#58;//arxiv.org/abs/2311.06720"' in html
    _no_markup(html)


def test_follow_up_question_uses_history(make_app: Callable[..., App]) -> None:
    llm = FakeLLM(responder=grounded_responder)
    app = make_app(llm)
    client = app.client()
    client.predict("How many parameters does Cappy have?", api_name="/ask")
    chat, _ = client.predict("What does it boost on BIG-Bench?", api_name="/ask")
    assert len(chat) == 4
    assert "FLAN-T5" in _assistant_text(chat)
    # "it" is resolved from the previous turn without a model call, and the UI says so
    rewrite_calls = [m for m in llm.calls if "Follow-up question:" in m[-1]["content"]]
    assert not rewrite_calls
    assert "Understood as: What does Cappy boost on BIG-Bench?" in _assistant_text(chat)


def test_off_topic_question_abstains(make_app: Callable[..., App]) -> None:
    """What the UI shows when the assistant abstains. The hashing FakeEmbedder scores this
    question 0.28 against a Cappy sentence, above FAKE_FLOOR; MiniLM scores off-topic
    questions 0.15-0.30, under the real floor (0.35), which is what refuses them there (the
    eval's off-topic abstention). A floor of 0.3 gives the fake world the same cut."""
    app = make_app(relevance_floor=0.3)
    chat, _ = app.client().predict("What is the capital of France?", api_name="/ask")
    html = _assistant_text(chat)
    assert 'class="pa-abstain"' in html
    assert "You may mean" in html  # the closest papers are offered
    assert "pa-card" not in html


def test_ingest_jsonl_upload_reports_added_and_rejected(make_app: Callable[..., App]) -> None:
    from gradio_client import handle_file

    app = make_app()
    upload = DATA / "ui_upload.jsonl"
    client = app.client()
    summary, status, table, _ = client.predict("", [handle_file(str(upload))], api_name="/ingest")
    assert "added 1" in summary and "rejected 1" in summary
    assert "ui_upload.jsonl:2: empty title" in _text(summary)
    assert "4 papers" in status
    ids = [row[-1] for row in table["data"]]
    assert "2312.09999" in ids
    # idempotent: the same file again changes nothing
    summary2, *_ = client.predict("", [handle_file(str(upload))], api_name="/ingest")
    assert "added 0" in summary2 and "unchanged 1" in summary2
    chat, _ = client.predict("What ROC-AUC do quokka kernels reach on Tox21?", api_name="/ask")
    assert "0.91" in _assistant_text(chat)


def test_ingest_pasted_text_and_wrong_file_type(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    app = make_app(papers=False)
    client = app.client()
    pasted = (DATA / "ui_upload.jsonl").read_text()
    summary, status, *_ = client.predict(pasted, None, api_name="/ingest")
    assert "added 1" in summary and "pasted text:2: empty title" in _text(summary)
    assert "1 papers" in status
    bad = tmp_path / "notes.exe"
    bad.write_text("MZ")
    with pytest.raises(AppError, match="Invalid file type"):  # gradio checks file_types too
        client.predict("", [handle_file(str(bad))], api_name="/ingest")


def test_ingest_rejects_unknown_suffix_and_oversized_files(tmp_path: Path) -> None:
    from ui.actions import ingest_inputs

    settings = Settings(data_dir=tmp_path)
    assistant = _fake_assistant(settings, FakeLLM())
    exe = tmp_path / "upload.bin"
    exe.write_text("x")
    big = tmp_path / "big.jsonl"
    big.write_text((DATA / "ui_upload.jsonl").read_text() * 50)
    report = ingest_inputs(
        assistant, "x" * 2000, [(exe, "notes.exe"), (big, "big.jsonl")], max_bytes=1000
    )
    reasons = {r.file: r.reason for r in report.rejected}
    assert "not accepted" in reasons["notes.exe"]
    assert "too large" in reasons["big.jsonl"] and str(tmp_path) not in reasons["big.jsonl"]
    assert "longer than" in reasons["pasted text"]
    assert report.ingested == 0 and assistant.library.store.count_papers() == 0


def test_papers_table_and_tldr_generation(make_app: Callable[..., App]) -> None:
    llm = FakeLLM(default_text="Cappy is a small scorer with 360 million parameters.")
    app = make_app(llm)
    client = app.client()
    status, table = client.predict(api_name="/papers")
    assert "3 papers" in status and len(table["data"]) == 3
    assert table["headers"] == PAPER_HEADERS
    message, table = client.predict(api_name="/generate_tldrs")
    assert "Wrote 3" in message
    assert all(row[2] for row in table["data"]), table  # every paper now has a TL;DR
    message, _ = client.predict(api_name="/generate_tldrs")
    assert "already has" in message


class _Tracking:
    """A responder that records how many model calls ever ran at the same time."""

    def __init__(self, delay: float) -> None:
        self.delay, self.now, self.peak = delay, 0, 0
        self.lock = threading.Lock()

    def __call__(self, messages: list[Message]) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        return grounded_responder(messages)


def test_concurrent_clients_all_get_answers_one_model_call_at_a_time(
    make_app: Callable[..., App],
) -> None:
    tracking = _Tracking(delay=0.3)
    app = make_app(FakeLLM(responder=tracking), queue_size=8)
    questions = [
        "How many parameters does Cappy have?",
        "How much does heuristic pre-training improve object detection on COCO?",
        "How many points does routing to experts improve exact match?",
    ] * 2
    clients = [app.client() for _ in questions]
    with cf.ThreadPoolExecutor(len(questions)) as pool:
        futures = [
            pool.submit(c.predict, q, api_name="/ask")
            for c, q in zip(clients, questions, strict=True)
        ]
        results = [f.result(timeout=120) for f in futures]
    expected = ["360 million", "2.1 AP", "4.1 points"] * 2
    for (chat, _), needle in zip(results, expected, strict=True):
        assert needle in _assistant_text(chat)
    assert tracking.peak == 1, "model calls overlapped: the concurrency group is not enforced"


def test_beyond_the_queue_bound_clients_get_a_fast_busy_answer(
    make_app: Callable[..., App],
) -> None:
    from gradio_client.utils import QueueError

    app = make_app(FakeLLM(responder=_Tracking(delay=3.0)), queue_size=1)
    clients = [app.client() for _ in range(5)]
    outcomes: list[tuple[str, float]] = []

    def ask(client: Any) -> tuple[str, float]:
        t0 = time.perf_counter()
        try:
            client.predict("How many parameters does Cappy have?", api_name="/ask")
            return "answered", time.perf_counter() - t0
        except QueueError as exc:
            assert "full" in str(exc).lower() or "busy" in str(exc).lower()
            return "busy", time.perf_counter() - t0

    with cf.ThreadPoolExecutor(len(clients)) as pool:
        outcomes = list(pool.map(ask, clients))
    kinds = [k for k, _ in outcomes]
    assert "answered" in kinds
    assert kinds.count("busy") >= 2, outcomes
    assert all(s < 3.0 for k, s in outcomes if k == "busy"), outcomes  # refused at once


# ---- the real model and embedder -----------------------------------------------------------


@functools.cache
def sample_data_dir() -> Path:
    """A data dir holding the sample corpus, indexed once per test session with the real
    embedder (shared with the browser tests)."""
    from assistant.service import open_library
    from assistant.sources import parse_file as parse

    root = Path(tempfile.mkdtemp(prefix="ui-sample-"))
    atexit.register(shutil.rmtree, root, True)
    settings = Settings(data_dir=root)
    with open_library(settings, write=True) as lib:
        lib.ingest(parse(SAMPLE).papers)
    return root


@pytest.mark.integration
def test_real_model_answers_with_citation_and_abstains_off_topic() -> None:
    from ui.app import start

    settings = Settings(data_dir=sample_data_dir(), host="127.0.0.1", port=0)
    with Assistant(settings, write=True) as assistant:
        running = start(assistant, settings, warm=False)
        try:
            client = App(running.url, assistant, running).client()
            chat, _ = client.predict("How many parameters does Cappy have?", api_name="/ask")
            html = _assistant_text(chat)
            assert "360 million" in html
            assert 'class="pa-card"' in html and "Cappy" in html
            _no_markup(html)
            chat, _ = client.predict("What is the capital of France?", api_name="/ask")
            html = _assistant_text(chat)
            assert 'class="pa-abstain"' in html and "Paris" not in html
        finally:
            running.close()


def test_upload_over_the_size_limit_is_refused(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    import httpx
    from gradio_client import handle_file

    app = make_app(papers=False, max_upload_mb=1)
    big = tmp_path / "big.jsonl"
    line = (DATA / "ui_upload.jsonl").read_text().splitlines()[0] + "\n"
    big.write_text(line * (2 * 1024 * 1024 // len(line) + 1))
    with pytest.raises(ValueError, match="maximum file size"):  # the advertised cap
        app.client().predict("", [handle_file(str(big))], api_name="/ingest")
    with big.open("rb") as fh:  # and the server enforces it, whatever the client does
        r = httpx.post(
            app.url.rstrip("/") + "/gradio_api/upload", files={"files": ("big.jsonl", fh)}
        )
    assert r.status_code == 413, (r.status_code, r.text[:200])
    assert app.assistant.library.store.count_papers() == 0
