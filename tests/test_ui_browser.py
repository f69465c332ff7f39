"""The UI in a real browser: Debian's chromium driven by Playwright (never `playwright install`).

One app is started in-process with the real model and embedder over a few sample papers. The
tests load the page, ask a question, wait for the streamed answer and its source card, and save
test-artifacts/ui-answer.png; then ingest a hostile abstract through the Ingest tab and check
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
N_SAMPLE_PAPERS = 6
ANSWER_TIMEOUT_MS = 120_000


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: `make browser-deps` must install chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")


class UI:
    def __init__(self, url: str, assistant: Assistant, settings: Settings, launch_s: float):
        self.url, self.assistant, self.settings, self.launch_s = url, assistant, settings, launch_s


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    _require_chromium()
    from ui.app import start

    data_dir = tmp_path_factory.mktemp("ui-browser")
    settings = Settings(data_dir=data_dir, host="127.0.0.1", port=0)
    papers = parse_file(SAMPLE).papers[:N_SAMPLE_PAPERS]
    assert any("Cappy" in p.title for p in papers)
    with Assistant(settings, write=True) as assistant:
        assistant.library.ingest(papers)
        t0 = time.perf_counter()
        running = start(assistant, settings, warm=True)
        try:
            yield UI(running.url, assistant, settings, time.perf_counter() - t0)
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
