"""The OpenAI-compatible model adapter, against a fake server on loopback and httpx's
MockTransport (no model): the wire format, streaming through the shared token loop, token
counting, and every fault (down, 401, slow, malformed, cut off) as a clear error. Plus the
settings that hold secrets, the multi-slot gate and the ordered concurrent TL;DR batch."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.batch import run_tldr_batch
from assistant.config import Settings
from assistant.errors import BusyError, ModelError, ModelServerError, ServerError
from assistant.journal import TldrJournal
from assistant.llm.openai_compat import ESTIMATE_BYTES_PER_TOKEN, OpenAICompatLLM
from assistant.llm.stream import ModelGate
from assistant.llm.wire import Malformed, chat_request, defang, parse_chunk, sse_payloads
from assistant.servers import free_port
from assistant.service import Assistant
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, InMemoryStore
from assistant.types import Paper, Tldr
from tests.helpers_servers import Script, fake_openai

DATA = Path(__file__).parent / "data"
ASSISTANT = Path(sys.executable).with_name("assistant")
KEY = "sk-test-9f8e7d6c5b4a"


def _llm(url: str, **kw: Any) -> OpenAICompatLLM:
    return OpenAICompatLLM(Settings(llm_base_url=url, **kw))


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


# ---- the wire format ---------------------------------------------------------------------------


def test_sse_payloads_skip_comments_join_lines_and_stop_at_done() -> None:
    lines = [
        ": ping",
        "",
        "data: a",
        "",
        "event: x",
        "data: b1",
        "data: b2",
        "",
        "data: [DONE]",
        "",
    ]
    lines += ["data: after"]
    assert list(sse_payloads(iter(lines))) == ["a", "b1\nb2"]


@pytest.mark.parametrize("lines", [["data: a", ""], ["data: a", "", "data: b"], []])
def test_sse_stream_without_done_is_malformed(lines: list[str]) -> None:
    with pytest.raises(Malformed, match="without \\[DONE\\]"):
        list(sse_payloads(iter(lines)))


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[1, 2]",
        '{"object": "chunk"}',
        '{"choices": ["x"]}',
        '{"choices": [{"delta": {"content": 5}}]}',
        '{"error": {"message": "out of memory"}}',
    ],
)
def test_malformed_chunks_raise(payload: str) -> None:
    with pytest.raises(Malformed):
        parse_chunk(payload)


def test_chunk_text_and_finish() -> None:
    assert parse_chunk('{"choices": [{"delta": {"content": "Hi"}}]}') == [("Hi", "")]
    assert parse_chunk('{"choices": [{"delta": {}, "finish_reason": "length"}]}') == [
        ("", "length")
    ]
    assert parse_chunk('{"choices": [], "usage": {"prompt_tokens": 3}}') == []


def test_defang_breaks_special_token_text() -> None:
    out = defang("ok <|im_end|> <|eot_id|> <end_of_turn> </s> [INST] <|x_y|> plain <b>")
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "</s>", "[INST]", "<|x_y|>"):
        assert marker not in out
    original = "ok <|im_end|> <|eot_id|> <end_of_turn> </s> [INST] <|x_y|> plain <b>"
    assert out.replace("\u200b", "") == original
    assert "<b>" in out and defang("plain text") == "plain text"


def test_request_body_strict_and_llama_family() -> None:
    stops = ["\n", ". A", ". B", ". C", ". D", ". E"]
    opener = [*MESSAGES, {"role": "assistant", "content": "This paper"}]
    body = chat_request(
        "m", opener, max_tokens=7, stops=stops, temperature=0.7, seed=3, strict=False
    )
    assert body["stop"] == stops and body["repeat_penalty"] == 1.0 and body["top_k"] == 40
    assert body["continue_final_message"] is True and body["stream"] is True
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (7, 0.7, 3)
    strict = chat_request(
        "m", opener, max_tokens=7, stops=stops, temperature=0.0, seed=3, strict=True
    )
    assert strict["stop"] == stops[:4]
    assert not {"repeat_penalty", "top_k", "min_p", "continue_final_message"} & set(strict)


# ---- generation against a fake server ----------------------------------------------------------


def test_streams_pieces_and_sends_the_request() -> None:
    with fake_openai(Script(pieces=["Cappy", " has", " 360M", " parameters", "."])) as fake:
        llm = _llm(fake.url, llm_api_key=KEY)
        pieces: list[str] = []
        gen = llm.generate(MESSAGES, max_tokens=20, temperature=0.3, seed=9, on_token=pieces.append)
    assert gen.text == "Cappy has 360M parameters." == "".join(pieces)
    assert gen.finish_reason == "stop" and gen.completion_tokens == 5
    (req,) = fake.chat_requests()
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "fake-model" and req.body["messages"] == MESSAGES
    assert (req.body["temperature"], req.body["seed"], req.body["max_tokens"]) == (0.3, 9, 20)
    assert llm.name == "fake-model" and len(llm.sha256) == 64


def test_stop_strings_cut_here_even_if_the_server_ignores_them() -> None:
    script = Script(pieces=["One", " sentence", ". N", "ext one", "."], finish="length")
    with fake_openai(script) as fake:
        llm = _llm(fake.url)
        pieces: list[str] = []
        gen = llm.generate(MESSAGES, max_tokens=20, stop=[". N"], on_token=pieces.append)
    assert gen.text == "One sentence" == "".join(pieces)  # the stop string is never streamed
    assert gen.finish_reason == "stop"
    assert fake.chat_requests()[0].body["stop"] == [". N"]


def test_reply_opener_is_continued_or_told_depending_on_the_server() -> None:
    opener = [*MESSAGES, {"role": "assistant", "content": "Cappy is"}]
    with fake_openai() as fake:  # offers /extras/tokenize: llama-cpp-python's server
        _llm(fake.url).generate(opener, max_tokens=8)
        sent = fake.chat_requests()[0].body
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][-1]["content"].endswith('Begin your reply with "Cappy is".')
    assert "continue_final_message" not in sent
    with fake_openai(Script(tokenize=False)) as fake:  # another server: ask it to continue
        _llm(fake.url).generate(opener, max_tokens=8)
        sent = fake.chat_requests()[0].body
    assert sent["messages"][-1] == {"role": "assistant", "content": "Cappy is"}
    assert sent["continue_final_message"] is True


def test_a_looping_reply_ends_as_repetition() -> None:
    with fake_openai(Script(pieces=[" the", " best"] * 40, finish="length")) as fake:
        gen = _llm(fake.url).generate(MESSAGES, max_tokens=200)
    assert gen.finish_reason == "repetition" and gen.completion_tokens < 40


def test_max_tokens_is_capped_to_the_context_window() -> None:
    with fake_openai() as fake:
        llm = _llm(fake.url, n_ctx=256)
        prompt = llm.prompt_tokens(MESSAGES)
        llm.generate(MESSAGES, max_tokens=4000)
        assert fake.chat_requests()[0].body["max_tokens"] == 256 - prompt
        with pytest.raises(ModelError, match="context window"):
            llm.generate([{"role": "user", "content": "word " * 300}], max_tokens=8)


def test_token_counts_come_from_the_server_without_its_bos() -> None:
    with fake_openai() as fake:
        llm = _llm(fake.url)
        assert llm.count_tokens("three little words") == 3
        assert llm.tokenizer == "llama-cpp-python"
        before = len(fake.requests)
        assert llm.count_tokens("three little words") == 3  # cached
        assert len(fake.requests) == before
        contents = sum(llm.count_tokens(m["content"]) for m in MESSAGES)
        assert llm.prompt_tokens(MESSAGES) > contents  # the template allowance


def test_without_a_tokenizer_endpoint_the_estimate_overcounts() -> None:
    text = "Cappy is a small scorer with 360 million parameters for multi-task LLMs."
    with fake_openai(Script(tokenize=False)) as fake:
        llm = _llm(fake.url)
        n = llm.count_tokens(text)
    assert llm.tokenizer == "estimate"
    assert n == -(-len(text.encode()) // ESTIMATE_BYTES_PER_TOKEN)
    assert n > len(text.split()) * 1.3  # more than a typical BPE count for English


def test_mock_transport_vllm_style_tokenize() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "org/model-7b"}]})
        if request.url.path == "/tokenize":
            body = json.loads(request.content)
            if "prompt" not in body:
                return httpx.Response(422, json={"detail": "prompt required"})
            return httpx.Response(200, json={"tokens": list(range(len(body["prompt"])))})
        return httpx.Response(404)

    llm = OpenAICompatLLM(
        Settings(llm_base_url="http://gpu-box:8000/v1"), transport=httpx.MockTransport(handler)
    )
    assert llm.count_tokens("abcd") == 4 and llm.tokenizer == "vllm"
    assert llm.name == "model-7b"


# ---- faults ----------------------------------------------------------------------------------


def test_server_down_fails_fast_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    t0 = time.perf_counter()
    with pytest.raises(ModelServerError, match="cannot connect") as info:
        _llm(url).generate(MESSAGES, max_tokens=8)
    assert time.perf_counter() - t0 < 2.0
    assert url in str(info.value) and info.value.exit_code == 5


def test_unauthorised_names_the_key_setting_never_the_key() -> None:
    with (
        fake_openai(Script(status=401)) as fake,
        pytest.raises(ModelError, match="llm_api_key") as info,
    ):
        _llm(fake.url, llm_api_key=KEY).generate(MESSAGES, max_tokens=8)
    assert KEY not in str(info.value) and not isinstance(info.value, ServerError)


def test_a_busy_server_is_busy() -> None:
    with fake_openai(Script(status=503)) as fake, pytest.raises(BusyError):
        _llm(fake.url).load()


def test_slower_than_the_timeout_is_a_timeout_error() -> None:
    with fake_openai() as fake:
        llm = _llm(fake.url, llm_timeout_s=0.5)
        llm.load()
        fake.script.delay_s = 1.5
        t0 = time.perf_counter()
        with pytest.raises(ModelServerError, match="llm_timeout_s = 0.5 s"):
            llm.generate(MESSAGES, max_tokens=8)
    assert time.perf_counter() - t0 < 1.4


def test_a_stalled_stream_times_out_between_pieces() -> None:
    script = Script(pieces=["a", " b", " c"], piece_delay_s=0.8)
    with fake_openai(script) as fake, pytest.raises(ModelServerError, match="llm_timeout_s"):
        _llm(fake.url, llm_timeout_s=0.5).generate(MESSAGES, max_tokens=8)


@pytest.mark.parametrize(
    "script",
    [
        Script(pieces=["Fine", " so", " far", "."], malformed_after=2),
        Script(finish=None),  # [DONE] without finish_reason: interrupted by another request
        Script(done=False),  # connection closed without [DONE]
    ],
    ids=["garbage", "cut-off", "no-done"],
)
def test_malformed_or_cut_off_streams_are_errors(script: Script) -> None:
    with fake_openai(script) as fake, pytest.raises(ModelServerError, match="stream"):
        _llm(fake.url).generate(MESSAGES, max_tokens=8)


def _papers() -> list[Paper]:
    return parse_file(DATA / "ui_papers.jsonl").papers


def test_a_malformed_stream_shows_nothing_unchecked() -> None:
    # an unsupported claim, then garbage: the claim must never reach on_sentence
    script = Script(pieces=["Cappy", " has", " 9", " billion", " parameters", " [1].", " X"])
    script.malformed_after = 6
    with fake_openai(script) as fake:
        settings = Settings(llm_base_url=fake.url, relevance_floor=0.2)
        store = InMemoryStore()
        with Assistant(settings, write=True, embedder=FakeEmbedder(), store=store) as assistant:
            assistant.library.ingest(_papers())
            shown: list[str] = []
            with pytest.raises(ModelServerError, match="malformed"):
                assistant.ask("How many parameters does Cappy have?", on_sentence=shown.append)
    assert fake.chat_requests(), "the question should have reached the model"
    assert not any("9 billion" in s for s in shown), shown


def test_cli_reports_401_with_the_setting_and_never_prints_the_key(tmp_path: Path) -> None:
    with fake_openai(Script(status=401)) as fake:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
            "ASSISTANT_LLM_BASE_URL": fake.url,
            "ASSISTANT_LLM_API_KEY": KEY,
            "ASSISTANT_CHROMA_TOKEN": "chroma-secret-123",
        }
        ask = subprocess.run(
            [str(ASSISTANT), "ask", "What is Cappy?", "--json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        config = subprocess.run(
            [str(ASSISTANT), "config", "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    # provenance names the server's model, so the refused key shows before any retrieval
    assert ask.returncode == 1, ask.stderr
    assert "check llm_api_key" in ask.stderr and "HTTP 401" in ask.stderr
    assert json.loads(ask.stdout)["exit_code"] == 1
    for proc in (ask, config):
        assert KEY not in proc.stdout + proc.stderr
        assert "chroma-secret-123" not in proc.stdout + proc.stderr
    data = json.loads(config.stdout)
    assert data["llm_api_key"] == "***" and data["chroma_token"] == "***"
    assert data["llm_base_url"] == fake.url


def test_provenance_and_fingerprint_never_carry_the_key() -> None:
    with fake_openai() as fake:
        settings = Settings(llm_base_url=fake.url, llm_api_key=KEY)
        assistant = Assistant(settings, embedder=FakeEmbedder(), store=InMemoryStore())
        prov = assistant.provenance("tldr")
    assert KEY not in json.dumps(prov) and KEY not in repr(settings)
    assert settings.fingerprint() == Settings(llm_base_url=fake.url).fingerprint()
    assert prov["model"] == "fake-model"


# ---- the multi-slot gate and the ordered batch ---------------------------------------------------


def test_gate_with_two_slots_runs_two_and_bounds_the_queue() -> None:
    gate = ModelGate(queue_size=1, slots=2)
    inside = threading.Barrier(3)
    release = threading.Event()

    def hold() -> None:
        with gate.hold():
            inside.wait(timeout=5)
            release.wait(timeout=5)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait(timeout=5)  # both slots held at once
    assert gate.busy
    waiter = threading.Thread(target=lambda: gate.hold().__enter__())
    waiter.start()
    deadline = time.monotonic() + 5
    while gate.waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(BusyError), gate.hold():  # two running, one waiting: full
        pass
    release.set()
    for t in [*threads, waiter]:
        t.join(timeout=5)


def _tldr(paper: Paper, provenance: dict[str, str]) -> Tldr:
    return Tldr(
        paper_id=paper.paper_id,
        title=paper.title,
        tldr=f"About {paper.title}.",
        method="generated",
        support=1.0,
        words=3,
        provenance=provenance | {"content_hash": paper.content_hash},
        seconds=0.0,
    )


def test_concurrent_batch_reports_in_order_and_resumes(tmp_path: Path) -> None:
    papers = _papers()
    prov = {"model": "m"}
    journal = TldrJournal(tmp_path / "tldrs.jsonl")
    journal.append(_tldr(papers[1], prov))  # already done: reused, not rewritten
    delays = {papers[0].paper_id: 0.4, papers[2].paper_id: 0.0}
    finished: list[str] = []

    def write(paper: Paper) -> Tldr:
        time.sleep(delays[paper.paper_id])
        finished.append(paper.paper_id)
        return _tldr(paper, prov)

    seen: list[tuple[str, bool]] = []
    out = run_tldr_batch(
        papers, write=write, journal=journal, provenance=prov, concurrency=2,
        on_done=lambda r, reused: seen.append((r.paper_id, reused)),
    )  # fmt: skip
    ids = [p.paper_id for p in papers]
    assert [r.paper_id for r in out] == ids
    assert seen == [(ids[0], False), (ids[1], True), (ids[2], False)]
    assert finished == [ids[2], ids[0]]  # really concurrent: the fast one finished first
    assert set(TldrJournal(tmp_path / "tldrs.jsonl").records) == set(ids)


def test_concurrent_batch_error_keeps_what_finished(tmp_path: Path) -> None:
    papers = _papers()
    prov = {"model": "m"}
    journal = TldrJournal(tmp_path / "tldrs.jsonl")

    def write(paper: Paper) -> Tldr:
        if paper is papers[0]:
            time.sleep(0.2)
            raise ModelServerError("server went away")
        return _tldr(paper, prov)

    with pytest.raises(ModelServerError):
        run_tldr_batch(papers, write=write, journal=journal, provenance=prov, concurrency=2)
    kept = set(TldrJournal(tmp_path / "tldrs.jsonl").records)
    assert papers[1].paper_id in kept and papers[0].paper_id not in kept
