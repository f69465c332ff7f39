"""Threat 6: concurrent calls into one llama.cpp context (llama-cpp-python #471, #1529, #1995).

Every model call goes through LocalLLM's gate: one lock plus a bounded wait queue, and a
BusyError at once beyond it. The unit tests run the REAL gate and LocalLLM's generation path
(``_generate_tokens``) with the llama.cpp parts replaced by a slow fake (``SlowLocalLLM``), so
many threads calling ``Assistant.ask`` plus a TL;DR batch can be checked in seconds. The
integration tests hammer the real model from 8 threads.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.errors import BusyError
from assistant.grounding.textnorm import split_sentences
from assistant.journal import TldrJournal
from assistant.llm.llama import LocalLLM
from assistant.protocols import Generation, Message
from assistant.service import Assistant, open_library
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM, user_text
from assistant.tldr import write_tldr
from assistant.types import Paper
from vectorstore.chroma import ChromaStore

SAMPLE = Path(__file__).resolve().parents[1] / "assistant" / "data" / "hf_daily_sample.txt"
# The first two are answered (not declined by the answerability scorer) with the fake embedder.
QUESTIONS = [
    "How much does heuristic pre-training improve object detection on COCO?",
    "What does the Coverage Principle framework explain?",
    "How many parameters does the Cappy scorer have?",
    "How many points does routing to experts improve exact match?",
]


def grounded(messages: list[Message]) -> str:
    """Answers with the first sentence of source [1]; TL;DRs with the abstract's first."""
    user = user_text(messages)
    if "Abstract:" in user:
        return split_sentences(user.split("Abstract:", 1)[1])[0]
    first = re.search(r"\[1\] [^\n]*\n([^\n]*)", user)
    return f"{split_sentences(first.group(1))[0]} [1]" if first else "No sources."


class SlowLocalLLM(LocalLLM):
    """LocalLLM with its real gate and generation path; tokenising and decoding are faked
    (FakeLLM's token counts, a sleep per call). Records how many calls ran at once."""

    def __init__(self, settings: Settings, delay_s: float) -> None:
        # a fixed thread count: the stand-in has no llama.cpp context to re-thread when the
        # adaptive policy sees a busy machine
        super().__init__(settings.model_copy(update={"n_threads": 2}))
        self.inner = FakeLLM(n_ctx=settings.n_ctx, responder=grounded)
        self.delay_s = delay_s
        self.active = 0
        self.peak = 0
        self.calls = 0
        self._count = threading.Lock()
        self._tls = threading.local()

    def _ensure_loaded(self) -> Any:
        return self  # stands in for the Llama object

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def prompt_token_ids(self, messages: Sequence[Message]) -> list[int]:
        self._tls.messages = list(messages)
        self._tls.arrived = time.monotonic()
        return [0] * self.inner.prompt_tokens(messages)

    def _decode(
        self,
        llama: Any,
        tokens: list[int],
        budget: int,
        stops: list[str],
        temperature: float,
        seed: int | None,
        on_token: Callable[[str], None] | None,
    ) -> Generation:
        with self._count:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay_s)
            return self.inner.generate(
                self._tls.messages, max_tokens=budget, stop=stops, on_token=on_token
            )
        finally:
            with self._count:
                self.active -= 1


@pytest.fixture(scope="module")
def sample() -> list[Paper]:
    return parse_file(SAMPLE).papers


@pytest.fixture(scope="module")
def store(sample: list[Paper], tmp_path_factory: pytest.TempPathFactory) -> ChromaStore:
    store = ChromaStore(None, f"t-{uuid.uuid4().hex[:12]}")
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    open_library(settings, write=True, embedder=FakeEmbedder(), store=store).ingest(sample)
    return store


def _model(tmp_path: Path, *, queue_size: int, delay_s: float) -> tuple[Settings, SlowLocalLLM]:
    weights = tmp_path / "fake.gguf"
    weights.write_bytes(b"not a real model")
    settings = Settings(data_dir=tmp_path / "data", model_path=weights, queue_size=queue_size)
    return settings, SlowLocalLLM(settings, delay_s)


def _assistant(settings: Settings, llm: LocalLLM, store: ChromaStore) -> Assistant:
    a = Assistant(settings, llm=llm, embedder=FakeEmbedder(), store=store)
    a.settings = settings.model_copy(update={"relevance_floor": 0.05})
    return a


def _storm(
    assistant: Assistant, n_asks: int, threads: int, batch: list[Paper]
) -> tuple[list[Any], list[Any]]:
    """n_asks questions from ``threads`` threads while a TL;DR batch runs beside them."""
    with ThreadPoolExecutor(threads + 1) as pool:
        tldr_job = pool.submit(assistant.tldrs, batch)
        asks = [pool.submit(assistant.ask, QUESTIONS[i % len(QUESTIONS)]) for i in range(n_asks)]
        answers = [f.result(timeout=600) for f in asks]
        records = tldr_job.result(timeout=600)
    return answers, records


def _sequential(assistant: Assistant) -> dict[str, Any]:
    expected = {q: assistant.ask(q) for q in QUESTIONS}
    assert sum(not a.abstained for a in expected.values()) >= 2  # the model is really used
    return expected


def _check_storm(
    assistant: Assistant,
    llm: SlowLocalLLM,
    answers: list[Any],
    records: list[Any],
    n: int,
    expected: dict[str, Any],
) -> None:
    assert llm.peak == 1, "two model calls overlapped"
    assert not llm.busy and llm._gate.waiting == 0
    for i, ans in enumerate(answers):  # no cross-talk: what one thread alone would get
        q = QUESTIONS[i % len(QUESTIONS)]
        assert (ans.answer, ans.citations) == (expected[q].answer, expected[q].citations), q
    for rec in records:  # the batch's TL;DRs are what a quiet run writes
        paper = assistant.library.store.get_paper(rec.paper_id)
        assert paper is not None
        cfg = assistant.tldr_config()
        alone = write_tldr(
            paper, llm=FakeLLM(responder=grounded), embedder=FakeEmbedder(), config=cfg
        )
        assert (rec.tldr, rec.method) == (alone.tldr, alone.method)
    journal = TldrJournal(assistant.settings.tldr_file)
    assert len(journal.records) == n
    lines = assistant.settings.tldr_file.read_text("utf-8").splitlines()
    assert len(lines) == n  # one whole line per paper, even with 20 threads around


def test_twenty_sessions_and_a_tldr_batch_share_the_model(
    tmp_path: Path, store: ChromaStore, sample: list[Paper]
) -> None:
    settings, llm = _model(tmp_path, queue_size=32, delay_s=0.02)
    with _assistant(settings, llm, store) as assistant:
        expected = _sequential(assistant)
        answers, records = _storm(assistant, n_asks=20, threads=20, batch=sample[:8])
        _check_storm(assistant, llm, answers, records, 8, expected)


@pytest.mark.soak
def test_many_sessions_and_batches_soak(
    tmp_path: Path, store: ChromaStore, sample: list[Paper]
) -> None:
    settings, llm = _model(tmp_path, queue_size=64, delay_s=0.01)
    with _assistant(settings, llm, store) as assistant:
        expected = _sequential(assistant)
        for _ in range(5):
            answers, records = _storm(assistant, n_asks=100, threads=40, batch=sample)
            _check_storm(assistant, llm, answers, records, len(sample), expected)


def test_beyond_the_queue_a_fast_busy_error(tmp_path: Path, store: ChromaStore) -> None:
    settings, llm = _model(tmp_path, queue_size=2, delay_s=2.5)
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def ask(q: str) -> None:
        start.wait()
        llm._tls.arrived = None
        try:
            assistant.ask(q)
            kind = "answered"
        except BusyError as exc:
            assert "busy" in str(exc)
            kind = "busy"
        arrived = llm._tls.arrived
        if arrived is None:  # abstained before calling the model
            kind, arrived = "abstained", time.monotonic()
        waited = time.monotonic() - arrived  # from reaching the model gate
        with lock:
            outcomes.append((kind, waited))

    with _assistant(settings, llm, store) as assistant:
        threads = [threading.Thread(target=ask, args=(QUESTIONS[i % 2],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    kinds = [k for k, _ in outcomes]
    assert len(outcomes) == 8, outcomes  # nobody hung or died with another error
    assert "abstained" not in kinds and kinds.count("answered") >= 1
    assert kinds.count("busy") >= 2, outcomes  # 1 running + 2 waiting; the rest refused
    assert all(w < 1.0 for k, w in outcomes if k == "busy"), outcomes  # at once, not queued
    assert not llm.busy and llm._gate.waiting == 0


# ---------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def real_llm(tmp_path_factory: pytest.TempPathFactory) -> LocalLLM:
    # one thread: on a busy 2-core machine llama.cpp's spinning threads slow down 10x or more
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("llm"), queue_size=8, n_ctx=512, n_threads=1
    )
    model = LocalLLM(settings)
    model.load()
    return model


def _chat(i: int) -> list[Message]:
    return [
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": f"Name a colour and the number {i}."},
    ]


@pytest.mark.integration
def test_real_model_eight_threads_generate_while_others_tokenise(real_llm: LocalLLM) -> None:
    errors: list[BaseException] = []
    results: dict[int, Generation] = {}
    stop = threading.Event()

    def generate(i: int) -> None:
        try:
            results[i] = real_llm.generate(_chat(i), max_tokens=12)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def tokenise() -> None:
        try:
            while not stop.wait(0.1):  # tokenising never queues behind generation
                assert real_llm.prompt_tokens(_chat(7)) > 5
                assert real_llm.count_tokens("héllo wörld <|im_end|>") > 2
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    counters = [threading.Thread(target=tokenise)]
    workers = [threading.Thread(target=generate, args=(i,)) for i in range(8)]
    for t in [*counters, *workers]:
        t.start()
    for t in workers:
        t.join(300)
    stop.set()
    for t in counters:
        t.join(30)
    assert errors == []
    assert sorted(results) == list(range(8))
    assert all(g.completion_tokens > 0 for g in results.values())
    assert not real_llm.busy and real_llm._gate.waiting == 0
    again = real_llm.generate(_chat(1), max_tokens=12)  # same greedy output after the storm
    assert again.text == results[1].text


@pytest.mark.integration
def test_real_model_refuses_fast_beyond_its_queue(tmp_path: Path) -> None:
    model = LocalLLM(Settings(data_dir=tmp_path / "data", queue_size=1, n_ctx=512, n_threads=1))
    model.load()
    outcomes: list[tuple[str, float]] = []
    start = threading.Barrier(4)

    def call(i: int) -> None:
        start.wait()
        t0 = time.monotonic()
        try:
            model.generate(_chat(i), max_tokens=48, stop=["\n\n\n"])
            outcomes.append(("answered", time.monotonic() - t0))
        except BusyError:
            outcomes.append(("busy", time.monotonic() - t0))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert len(outcomes) == 4
    kinds = [k for k, _ in outcomes]
    assert kinds.count("answered") >= 1 and kinds.count("busy") >= 1, outcomes
    assert all(s < 1.0 for k, s in outcomes if k == "busy"), outcomes
    model.close()
