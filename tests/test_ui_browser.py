"""The UI in a real browser: Debian's chromium driven by Playwright (never `playwright install`).

One app is started in-process with the real model and embedder over the 54 sample papers, as
`make run` does on a fresh clone: it writes their TL;DRs in the background from the start. The
tests load the page, ask a question (it goes before the batch's next paper), wait for the
streamed answer and its source card (the answering span marked), and save
test-artifacts/ui-answer.png; check the Papers tab at 1280x1000 (at least 15 rows in view,
TL;DRs filling in without a click, search, the detail pane, "Ask about this paper";
test-artifacts/ui-papers.png); then ingest a hostile abstract through the Ingest tab and check
that nothing in it executes, loads, or links anywhere; and probe gradio's file routes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from assistant.config import Settings
from assistant.service import Assistant
from assistant.sources import parse_file

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "test-artifacts"
DATA = Path(__file__).parent / "data"
SAMPLE = ROOT / "assistant" / "data" / "hf_daily_sample.txt"
N_SAMPLE_PAPERS = 54
TLDR_TIMEOUT_MS = 240_000  # all 54 TL;DRs, written in the background (about a minute idle)
ANSWER_TIMEOUT_MS = 120_000


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: `make browser-deps` must install chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")


class UI:
    def __init__(
        self, url: str, assistant: Assistant, settings: Settings, launch_s: float,
        started: float = 0.0,
    ) -> None:  # fmt: skip
        self.url, self.assistant, self.settings, self.launch_s = url, assistant, settings, launch_s
        self.started = started  # time.perf_counter() when start() was called


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    _require_chromium()
    from ui.app import start

    data_dir = tmp_path_factory.mktemp("ui-browser")
    settings = Settings(data_dir=data_dir, host="127.0.0.1", port=0)
    papers = parse_file(SAMPLE).papers[:N_SAMPLE_PAPERS]
    assert any("Cappy" in p.title for p in papers) and len(papers) == N_SAMPLE_PAPERS
    with Assistant(settings, write=True) as assistant:
        assistant.library.ingest(papers)
        t0 = time.perf_counter()
        running = start(assistant, settings, warm=True)
        try:
            yield UI(running.url, assistant, settings, time.perf_counter() - t0, t0)
        finally:
            running.close()


@pytest.fixture(scope="module")
def browser(ui: UI) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A page on the app that records every request it makes."""

    def __init__(self, browser: Any, ui: UI) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 1000})
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.host = urlsplit(ui.url).netloc

    def off_host(self) -> list[str]:
        web = ("http", "https", "ws", "wss")
        return [
            u
            for u in self.requests
            if urlsplit(u).scheme in web and urlsplit(u).netloc != self.host
        ]

    def ask(self, question: str, n_answers: int) -> Any:
        box = self.page.locator("#pa-question textarea")
        box.fill(question)
        box.press("Enter")
        done = "#pa-chat .pa-answer:not(:has(.pa-pending)), #pa-chat .pa-abstain, #pa-chat .pa-busy"
        self.page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length >= n",
            arg=[done, n_answers],
            timeout=ANSWER_TIMEOUT_MS,
        )
        return self.page.locator("#pa-chat [class^='pa-answer'], #pa-chat .pa-abstain").last

    def assert_nothing_hostile(self) -> None:
        page = self.page
        assert page.evaluate("typeof window.__xss") == "undefined"
        images = page.evaluate("Array.from(document.images, i => i.getAttribute('src') || '')")
        for src in images:
            parts = urlsplit(src)
            assert parts.scheme in ("", "data", "blob") or parts.netloc == self.host, src
            assert "example.invalid" not in src
        hrefs = page.evaluate(
            "Array.from(document.querySelectorAll('[href]'), a => a.getAttribute('href'))"
        )
        assert not [h for h in hrefs if h and h.strip().lower().startswith("javascript")]
        assert page.locator("#pa-chat script, #pa-abstract script, #pa-chat iframe").count() == 0
        assert not [u for u in self.requests if "example.invalid" in u]
        assert self.off_host() == [], self.off_host()


def test_page_answers_with_source_card_and_screenshot(ui: UI, browser: Any) -> None:
    t0 = time.perf_counter()
    page = Page(browser, ui)
    page.page.goto(ui.url)
    page.page.locator("#pa-question textarea").wait_for(state="visible", timeout=60_000)
    page_s = time.perf_counter() - t0
    status = page.page.locator("#pa-status").inner_text()
    assert f"{N_SAMPLE_PAPERS} papers" in status and "chunks" in status
    # example questions are offered on first start
    assert page.page.get_by_text("How many parameters does Cappy have?").count() >= 1

    page.page.evaluate(
        """() => new MutationObserver(() => {
            if (document.querySelector('#pa-chat .pa-pending')) window.__sawPending = true;
        }).observe(document.body, {subtree: true, childList: true, characterData: true})"""
    )
    t1 = time.perf_counter()
    answer = page.ask("How many parameters does Cappy have?", 1)
    answer_s = time.perf_counter() - t1
    card = page.page.locator("#pa-chat .pa-card").first
    card.wait_for(state="visible")
    assert "360 million" in page.page.locator("#pa-chat .pa-answer").last.inner_text()
    assert "Cappy" in card.inner_text()
    assert "360 million" in card.locator("mark").inner_text()
    # the span that answers is marked inside the highlighted quote, and survives sanitizing
    span = card.locator("mark .pa-span")
    assert span.count() == 1 and "360 million" in span.inner_text()
    assert span.evaluate("e => getComputedStyle(e).fontWeight") in ("700", "bold")
    assert answer.is_visible()
    assert page.page.evaluate("window.__sawPending === true"), "no streaming state was shown"
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)
    timing = {
        "server_start_s": round(ui.launch_s, 2),
        "page_usable_s": round(page_s, 2),
        "first_answer_s": round(answer_s, 2),
    }
    (ARTIFACTS / "ui-timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    page.assert_nothing_hostile()

    page.page.locator("#pa-new-chat").click()
    page.page.wait_for_function("document.querySelectorAll('#pa-chat .pa-answer').length === 0")
    page.page.close()


VISIBLE_ROWS_JS = """() => {
    const vp = document.querySelector('#pa-papers .virtual-table-viewport').getBoundingClientRect();
    const top = Math.max(0, vp.top), bottom = Math.min(window.innerHeight, vp.bottom);
    return Array.from(document.querySelectorAll('#pa-papers .virtual-body [role=row]'))
        .filter(r => { const b = r.getBoundingClientRect();
                       return b.height > 0 && b.top >= top - 1 && b.bottom <= bottom + 1; })
        .map(r => Array.from(r.querySelectorAll('[role=gridcell], td'), c => c.innerText.trim()));
}"""


def test_papers_tab_fills_in_tldrs_without_a_click_and_asks_about_a_paper(
    ui: UI, browser: Any
) -> None:
    page = Page(browser, ui)
    p = page.page
    p.goto(ui.url)
    p.get_by_role("tab", name="Papers").click()
    p.locator("#pa-papers .virtual-body [role=row]").first.wait_for(timeout=30_000)
    rows = p.evaluate(VISIBLE_ROWS_JS)
    assert len(rows) >= 15, f"only {len(rows)} rows in view at 1280x1000"
    assert all(len(r[4]) <= 18 for r in rows), [r[4] for r in rows]  # short ids
    # nobody clicks anything: the background worker fills the column in
    p.wait_for_function(
        f"document.querySelector('#pa-tldr-progress')?.innerText.includes("
        f"'{N_SAMPLE_PAPERS} of {N_SAMPLE_PAPERS}')",
        timeout=TLDR_TIMEOUT_MS,
    )
    all_shown_s = time.perf_counter() - ui.started
    p.wait_for_function(
        f"({VISIBLE_ROWS_JS})().every(r => r[2] && ['generated', 'extractive'].includes(r[3]))",
        timeout=10_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    timing = ARTIFACTS / "ui-timing.json"
    data = json.loads(timing.read_text()) if timing.is_file() else {}
    data["all_tldrs_shown_after_start_s"] = round(all_shown_s, 1)
    timing.write_text(json.dumps(data, indent=2) + "\n")

    p.locator("#pa-search input, #pa-search textarea").first.fill("cappy")
    p.wait_for_function(f"({VISIBLE_ROWS_JS})().length === 1", timeout=10_000)
    row = p.evaluate(VISIBLE_ROWS_JS)[0]
    assert row[4] == "cappy" and row[1].startswith("Cappy") and row[2], row
    p.locator("#pa-papers .virtual-body").get_by_text("Cappy: Outperforming").first.click()
    p.wait_for_function(
        "document.querySelector('#pa-abstract')?.innerText.includes('360 million')",
        timeout=10_000,
    )
    assert "TL;DR" in p.locator("#pa-abstract").inner_text()
    p.screenshot(path=str(ARTIFACTS / "ui-papers.png"))
    p.locator("#pa-ask-paper").click()
    box = p.locator("#pa-question textarea")
    box.wait_for(state="visible", timeout=10_000)
    p.wait_for_function(
        "document.querySelector('#pa-question textarea')?.value.includes('Cappy: Outperforming')",
        timeout=10_000,
    )
    assert "Cappy: Outperforming and Boosting" in box.input_value()
    page.assert_nothing_hostile()
    p.close()


def test_hostile_abstract_renders_inert(ui: UI, browser: Any) -> None:
    page = Page(browser, ui)
    p = page.page
    p.goto(ui.url)
    p.get_by_role("tab", name="Ingest").click()
    p.locator("#pa-paste textarea").fill((DATA / "ui_xss.jsonl").read_text())
    p.locator("#pa-ingest").click()
    p.wait_for_function(
        "document.querySelector('#pa-summary')?.innerText.includes('added 1')", timeout=60_000
    )
    page.assert_nothing_hostile()

    p.get_by_role("tab", name="Chat").click()
    page.ask(
        "How many years of harbour gauge readings was the zebrafish lattice model trained on?", 1
    )
    p.wait_for_timeout(500)  # let any injected handler fire if it could
    page.assert_nothing_hostile()
    card = p.locator("#pa-chat .pa-card").last
    card.wait_for(state="visible")
    assert "12 years" in card.locator("mark").inner_text()
    # the hostile neighbours of the quote are shown as text, not interpreted
    assert "[click](javascript:window.__xss=3)" in card.inner_text()
    p.screenshot(path=str(ARTIFACTS / "ui-xss-chat.png"), full_page=True)

    p.get_by_role("tab", name="Papers").click()
    p.locator("#pa-papers").get_by_text("Zebrafish Lattice Transformers").first.click()
    abstract = p.locator("#pa-abstract")
    p.wait_for_function(
        "document.querySelector('#pa-abstract')?.innerText.includes('42 attention heads')",
        timeout=30_000,
    )
    shown = abstract.inner_text()
    # the payload is displayed as text, proving it was escaped rather than interpreted
    assert "<script>window.__xss=2</script>" in shown
    assert '<img src=x onerror="window.__xss=1">' in shown
    p.wait_for_timeout(500)
    page.assert_nothing_hostile()
    p.screenshot(path=str(ARTIFACTS / "ui-xss.png"), full_page=True)
    p.close()


def test_file_routes_do_not_serve_local_files(ui: UI) -> None:
    import httpx

    sqlite = (ui.settings.store_dir / "chroma.sqlite3").resolve()
    assert sqlite.is_file()
    model = Path(ui.assistant.llm.model_path).resolve()  # type: ignore[attr-defined]
    targets = {
        "/etc/passwd": b"root:",
        str(sqlite): b"SQLite format 3",
        str(model): b"GGUF",
    }
    base = ui.url.rstrip("/")
    probes = []
    for path, magic in targets.items():
        for route in ("/file=", "/gradio_api/file=", "/gradio_api/file/"):
            probes.append((f"{base}{route}{path}", magic))
            probes.append((f"{base}{route}{quote(path, safe='')}", magic))
        probes.append((f"{base}/gradio_api/file=../../../../../..{path}", magic))
        probes.append((f"{base}/static/..%2f..%2f..%2f..%2f..%2f..%2f..{path}", magic))
        probes.append((f"{base}/assets/..%2f..%2f..%2f..%2f..%2f..%2f..{path}", magic))
    with httpx.Client(timeout=10, follow_redirects=True) as http:
        served = []
        for url, magic in probes:
            r = http.get(url)
            if r.status_code == 200 and r.content.startswith(magic):
                served.append(url)
            assert not (r.status_code == 200 and magic in r.content[:4096]), url
    assert served == []


def test_busy_message_is_visible_beyond_the_queue(browser: Any, tmp_path: Path) -> None:
    from assistant.testing import FakeEmbedder, FakeLLM
    from tests.test_ui import FAKE_FLOOR, grounded_responder
    from ui.app import start
    from vectorstore.chroma import ChromaStore

    def slow(messages: list[dict[str, str]]) -> str:
        time.sleep(4)
        return grounded_responder(messages)

    settings = Settings(
        data_dir=tmp_path, port=0, queue_size=1, relevance_floor=FAKE_FLOOR, max_upload_mb=1
    )
    store = ChromaStore(None, "ui-busy-browser")
    assistant = Assistant(
        settings, write=True, llm=FakeLLM(responder=slow), embedder=FakeEmbedder(), store=store
    )
    assistant.library.ingest(parse_file(DATA / "ui_papers.jsonl").papers)
    running = start(assistant, settings, warm=False)
    ui = UI(running.url, assistant, settings, 0.0)
    pages = [Page(browser, ui) for _ in range(4)]
    try:
        for page in pages:
            page.page.goto(ui.url)
            page.page.locator("#pa-question textarea").wait_for(state="visible")
        t0 = time.perf_counter()
        for page in pages:
            box = page.page.locator("#pa-question textarea")
            box.fill("How many parameters does Cappy have?")
            box.press("Enter")
        last = pages[-1].page
        last.get_by_text("currently busy", exact=False).first.wait_for(timeout=10_000)
        assert time.perf_counter() - t0 < 4, "the busy message must come before the model frees"
        pages[0].page.locator("#pa-chat .pa-card").first.wait_for(timeout=60_000)
        last.screenshot(path=str(ARTIFACTS / "ui-busy.png"))
    finally:
        for page in pages:
            page.page.close()
        running.close()
