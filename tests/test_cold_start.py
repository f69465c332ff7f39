"""What a cold `assistant ask` does in the background (docs/PERFORMANCE.md, 2026-12-02): the
model's load and prompt-prefix warm-up, the embedder and the keyword index made while the store
opens; the gate's non-blocking hold; bm25s without scipy; hashing through a memory map; what it
leaves out of its imports (httpx's command-line client, chromadb's ``overrides`` checks).
Nothing here times anything: each test checks what is made, by which thread, and that results
and errors are those of a run without the background work."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant import files, prompting, service
from assistant.config import Settings
from assistant.context import answer_prefix_probes
from assistant.errors import ModelError, StoreError
from assistant.llm.prefix import MIN_BATCH, Warmup, shared_prefix
from assistant.llm.stream import ModelGate
from assistant.protocols import Message, PrefixWarmer
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM
from assistant.types import Hit
from vectorstore.chroma import ChromaStore

SAMPLE = Path(__file__).resolve().parents[1] / "assistant" / "data" / "hf_daily_sample.txt"
PRELOAD_THREADS = {"model-preload", "embedder-preload", "index-preload"}
thread_errors_fail = pytest.mark.filterwarnings(
    "error::pytest.PytestUnhandledThreadExceptionWarning"
)


def _preload_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.is_alive()} & PRELOAD_THREADS


# --- the shared prefix and the warm-up -----------------------------------------------------------


def test_shared_prefix_is_what_every_prompt_starts_with() -> None:
    assert shared_prefix([]) == []
    assert shared_prefix([[1, 2, 3]]) == [1, 2, 3]
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == [1, 2]
    assert shared_prefix([[1, 2], [3, 2]]) == []


class _Ctx:
    def __init__(self) -> None:
        self.threads: list[tuple[int, int]] = []

    def set_n_threads(self, n: int, n_batch: int) -> None:
        self.threads.append((n, n_batch))


class _Llama:
    """The few members of ``llama_cpp.Llama`` that :func:`warm` uses."""

    def __init__(self, n_tokens: int = 0, fail: bool = False) -> None:
        self.n_tokens = n_tokens
        self.fail = fail
        self._ctx = _Ctx()
        self.evaluated: list[list[int]] = []
        self.resets = 0
        self.input_ids = np.zeros(4096, dtype=np.intc)  # what llama-cpp-python keeps
        self._requires_eval = False

    def eval(self, tokens: Sequence[int]) -> None:
        if self.fail:
            raise RuntimeError("llama_decode returned -1")
        self.evaluated.append(list(tokens))
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)

    def reset(self) -> None:
        self.resets += 1
        self.n_tokens = 0


PREFIX = list(range(100, 100 + MIN_BATCH + 6))


def test_warm_evaluates_the_prefix_in_one_batch_with_its_threads_then_restores_them() -> None:
    llama = _Llama()
    assert Warmup().run(llama, PREFIX, 1, 2) == len(PREFIX)
    assert llama.evaluated == [PREFIX] and llama.n_tokens == len(PREFIX)
    assert llama._ctx.threads == [(1, 1), (2, 2)]


def test_warm_never_replaces_a_cached_prompt_and_skips_a_short_prefix() -> None:
    """A batch under MIN_BATCH tokens gets other numbers from llama.cpp than the same tokens
    inside a cold prompt's batch: such a prefix is not warmed."""
    busy = _Llama(n_tokens=40)  # a real call's tokens
    assert Warmup().run(busy, PREFIX, 1, 2) == 0
    short = _Llama()
    assert Warmup().run(short, PREFIX[: MIN_BATCH - 1], 1, 2) == 0
    assert busy.evaluated == short.evaluated == [] and busy._ctx.threads == short._ctx.threads == []


def test_the_first_call_after_a_warm_up_keeps_it_only_for_a_long_enough_rest() -> None:
    """A rest under MIN_BATCH tokens would get other numbers than in a cold run's one batch:
    the warm-up's cache is dropped for it, once; later calls reuse as they always did."""
    long_rest = PREFIX + list(range(MIN_BATCH))
    short_rest = PREFIX + list(range(MIN_BATCH - 1))
    for prompt, resets in ((long_rest, 0), (short_rest, 1)):
        llama, warmup = _Llama(), Warmup()
        warmup.run(llama, PREFIX, 1, 2)
        warmup.settle(llama, prompt)
        assert llama.resets == resets and warmup.tokens == 0
        llama.n_tokens = len(PREFIX)  # a real call's cache that shares the prefix
        warmup.settle(llama, short_rest)
        assert llama.resets == resets  # not a warm-up's any more: untouched


def test_a_failed_warm_up_leaves_a_clean_context_and_the_threads_restored() -> None:
    llama = _Llama(fail=True)
    with pytest.raises(ModelError, match="warming the prompt prefix failed"):
        Warmup().run(llama, PREFIX, 1, 2)
    assert llama.resets == 1 and llama._ctx.threads == [(1, 1), (2, 2)]


def test_hold_if_free_takes_a_free_slot_and_never_waits_for_a_taken_one() -> None:
    gate = ModelGate(queue_size=1)
    with gate.hold_if_free() as free:
        assert free and gate.busy
        with gate.hold_if_free() as again:
            assert not again and gate.waiting == 0
    assert not gate.busy
    with gate.hold(), gate.hold_if_free() as free:
        assert not free
    with gate.hold_if_free() as free:  # released again either way
        assert free


def test_the_answer_probes_differ_only_in_their_variable_parts() -> None:
    first, second = answer_prefix_probes()
    assert [m["role"] for m in first] == [m["role"] for m in second]
    assert first[0] == second[0] and first[0]["role"] == "system"
    assert first[-1]["content"].split("\n")[0] == second[-1]["content"].split("\n")[0]
    assert first[-1]["content"] != second[-1]["content"]


@pytest.mark.integration
def test_local_llm_warm_prefix_is_reused_and_changes_nothing(tmp_path: Path) -> None:
    """The warmed cache is the one a cold prompt builds for itself: the same logits, bit for
    bit, and so the same answer (the question's part is a batch of >= MIN_BATCH tokens, as
    in every real answer prompt with sources)."""
    import numpy as np

    from assistant.llm.llama import LocalLLM

    llm = LocalLLM(Settings(data_dir=tmp_path / "data"))
    papers = parse_file(SAMPLE).papers[:3]
    sources = "\n\n".join(f"[{i}] {p.title}\n{p.abstract[:400]}" for i, p in enumerate(papers, 1))
    messages = prompting.split_system_user("answer", sources=sources, question="What is Cappy?")
    tokens = llm.prompt_token_ids(messages)
    llama = llm._llama

    def last_logits() -> Any:
        return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()

    llama.reset()
    llama.eval(tokens)
    cold_logits = last_logits()
    llama.reset()
    cold = llm.generate(messages, max_tokens=32)
    llama.reset()
    with llm._gate.hold():  # a real call holds the model: the warm-up does not wait
        assert llm.warm_prefix(answer_prefix_probes()) == 0
    n = llm.warm_prefix(answer_prefix_probes())
    assert MIN_BATCH <= n < len(tokens) - MIN_BATCH  # the chat framing and the system turn
    assert tokens[:n] == llama.input_ids[:n].tolist()
    assert llm.warm_prefix(answer_prefix_probes()) == 0  # the cache holds tokens now
    llama.eval(tokens[n:])
    assert np.array_equal(last_logits(), cold_logits)
    llama.reset()
    llm.warm_prefix(answer_prefix_probes())
    llm.stats.reset()
    warmed = llm.generate(messages, max_tokens=32)
    assert warmed.text == cold.text and warmed.completion_tokens == cold.completion_tokens
    assert llm.stats.reused_tokens == n
    # a question part under MIN_BATCH tokens: the warm-up's cache is dropped for it
    short = prompting.split_system_user("answer", sources="[1] Cappy", question="Size?")
    assert len(llm.prompt_token_ids(short)) - n < MIN_BATCH
    llama.reset()
    cold_short = llm.generate(short, max_tokens=16)
    llama.reset()
    assert llm.warm_prefix(answer_prefix_probes()) == n
    llm.stats.reset()
    assert llm.generate(short, max_tokens=16).text == cold_short.text
    assert llm.stats.reused_tokens == 0


# --- the Assistant's preload ---------------------------------------------------------------------


class _WarmingLLM(FakeLLM):
    def __init__(self, *, fail_warm: bool = False, load_s: float = 0.0) -> None:
        super().__init__()
        self.events: list[str] = []
        self.warmed: list[tuple[list[list[Message]], int, str]] = []
        self.fail_warm = fail_warm
        self.load_s = load_s

    def load(self) -> float:
        time.sleep(self.load_s)
        self.events.append("load")
        return super().load()

    def warm_prefix(self, prompts: Sequence[Sequence[Message]], *, threads: int = 1) -> int:
        self.events.append("warm")
        if self.fail_warm:
            raise ModelError("warming the prompt prefix failed: llama.cpp failed to decode")
        self.warmed.append(([list(p) for p in prompts], threads, threading.current_thread().name))
        return 10


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@thread_errors_fail
def test_preload_loads_then_warms_the_answer_prefix_on_one_thread(
    tmp_path: Path, mem_store: ChromaStore
) -> None:
    llm = _WarmingLLM(load_s=0.05)
    assert isinstance(llm, PrefixWarmer) and not isinstance(FakeLLM(), PrefixWarmer)
    a = service.Assistant(
        _settings(tmp_path), llm=llm, embedder=FakeEmbedder(), store=mem_store, preload=True
    )
    a.close()  # joins the preload threads
    assert not _preload_threads()
    assert llm.events == ["load", "warm"]
    assert llm.warmed == [(answer_prefix_probes(), 1, "model-preload")]


@thread_errors_fail
def test_a_failed_warm_up_is_silent(tmp_path: Path, mem_store: ChromaStore) -> None:
    llm = _WarmingLLM(fail_warm=True)
    with service.Assistant(
        _settings(tmp_path), llm=llm, embedder=FakeEmbedder(), store=mem_store, preload=True
    ):
        pass
    assert llm.events == ["load", "warm"]


@thread_errors_fail
def test_the_embedder_is_made_once_in_the_background(
    tmp_path: Path, mem_store: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def make(settings: Settings) -> FakeEmbedder:
        made.append(threading.current_thread().name)
        return FakeEmbedder()

    monkeypatch.setattr(service, "default_embedder", make)
    with service.Assistant(_settings(tmp_path), llm=FakeLLM(), store=mem_store, preload=True) as a:
        first = a.embedder
        assert a.embedder is first and a.library.embedder is first
    assert made == ["embedder-preload"]


@thread_errors_fail
def test_a_failed_embedder_preload_fails_in_the_foreground(
    tmp_path: Path, mem_store: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(settings: Settings) -> FakeEmbedder:
        raise ModelError("tokenizer.json is missing")

    monkeypatch.setattr(service, "default_embedder", broken)
    a = service.Assistant(_settings(tmp_path), llm=FakeLLM(), store=mem_store, preload=True)
    try:
        with pytest.raises(ModelError, match="tokenizer.json is missing"):
            _ = a.embedder  # the background thread's failure was kept quiet
    finally:
        a.close()


def test_a_store_that_fails_to_open_joins_the_preload_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise StoreError("the data dir is locked by another process")

    monkeypatch.setattr(service, "open_library", refuse)
    monkeypatch.setattr(service, "default_embedder", lambda settings: FakeEmbedder())
    llm = _WarmingLLM(load_s=0.2)
    with pytest.raises(StoreError, match="locked"):
        service.Assistant(_settings(tmp_path), llm=llm, preload=True)
    assert llm.events == ["load", "warm"]  # finished before the error got out
    assert not _preload_threads()


def _filled_store(tmp_path: Path) -> ChromaStore:
    store = ChromaStore(None, f"cold-{tmp_path.name}")
    settings = _settings(tmp_path)
    with service.open_library(settings, write=True, embedder=FakeEmbedder(), store=store) as lib:
        lib.ingest(parse_file(SAMPLE).papers[:12])
    return store


def test_the_preloaded_keyword_index_gives_the_same_retrieval(tmp_path: Path) -> None:
    store = _filled_store(tmp_path)
    questions = ["How many parameters does Cappy have?", "Which benchmark does GUIDE propose?"]
    settings = _settings(tmp_path)
    with service.Assistant(settings, llm=FakeLLM(), embedder=FakeEmbedder(), store=store) as a:
        plain = [a.retriever.search(q).model_dump(exclude={"timings"}) for q in questions]
    with service.Assistant(
        settings, llm=FakeLLM(), embedder=FakeEmbedder(), store=store, preload=True
    ) as a:
        for t in threading.enumerate():
            if t.name == "index-preload":
                t.join()
        assert a.retriever._index is not None  # built by the preload thread
        preloaded = [a.retriever.search(q).model_dump(exclude={"timings"}) for q in questions]
    assert preloaded == plain and plain[0]["hits"]


# --- bm25s without scipy; hashing -----------------------------------------------------------------


def test_keyword_index_names_numpy_backends_so_scores_never_depend_on_scipy() -> None:
    # bm25s picks scipy's CSC matrices when scipy happens to be installed; naming numpy keeps
    # the scores (and the ask path's imports) the same on every install
    from assistant.retrieve import _KeywordIndex

    hit = Hit(chunk_id="c0", paper_id="p0", title="T", text="alpha beta gamma", score=0.0)
    index = _KeywordIndex([hit])
    assert index._bm25.backend == "numpy" and index._bm25.csc_backend == "numpy"


def test_sha256_file_maps_the_file_and_reads_what_it_cannot_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert files.sha256_file(empty) == hashlib.sha256(b"").hexdigest()
    blob = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000
    blob.write_bytes(data)
    assert files.sha256_file(blob) == hashlib.sha256(data).hexdigest()

    def unmappable(*args: Any, **kwargs: Any) -> None:
        raise OSError("mmap: not supported")

    monkeypatch.setattr(files.mmap, "mmap", unmappable)
    other = tmp_path / "other.bin"
    other.write_bytes(data[::-1])
    assert files.sha256_file(other, chunk_size=4096) == hashlib.sha256(data[::-1]).hexdigest()


def test_quick_gil_handoff_shortens_the_switch_interval_for_the_block_only() -> None:
    from assistant.llm.threads import LOAD_SWITCH_INTERVAL_S, quick_gil_handoff

    before = sys.getswitchinterval()
    with quick_gil_handoff():
        assert sys.getswitchinterval() == pytest.approx(min(before, LOAD_SWITCH_INTERVAL_S))
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), quick_gil_handoff(interval_s=1.0):  # never longer
        assert sys.getswitchinterval() == before
        raise RuntimeError("restored on the way out")
    assert sys.getswitchinterval() == before


# --- imports left out ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _fresh_python(code: str) -> str:
    """``code``'s stdout in a new interpreter (this one has imported httpx and chromadb)."""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_ask_path_leaves_out_httpx_command_line_client() -> None:
    out = _fresh_python(
        "import sys, assistant.cli\n"
        "assistant.cli.build_parser()\n"  # every command module, as `assistant ask` imports
        "from vectorstore.chroma import chromadb_version\n"
        "chromadb_version()\n"  # chromadb imports httpx too
        "import httpx\n"
        "cli = ('httpx._main', 'click', 'rich', 'pygments')\n"
        "print(sorted(m for m in cli if sys.modules.get(m)))\n"
        "print(callable(httpx.main), httpx.Client(timeout=1.0).timeout.read)\n"
    )
    assert out.splitlines() == ["[]", "True 1.0"]


def test_chromadb_is_imported_with_its_override_checks_skipped_then_restored() -> None:
    out = _fresh_python(
        "import overrides\n"
        "real = (overrides.override, overrides.overrides)\n"
        "from vectorstore.importing import import_chromadb\n"
        "chromadb = import_chromadb()\n"
        "print((overrides.override, overrides.overrides) == real, import_chromadb() is chromadb)\n"
        "from chromadb.api.client import Client\n"
        "print(Client.heartbeat.__override__)\n"  # marked, as EnforceOverrides requires
        "import chromadb.api.fastapi\n"  # imported later (server mode): the real decorator
        "col = chromadb.EphemeralClient().create_collection('cold', embedding_function=None)\n"
        "col.add(ids=['a', 'b'], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=['x', 'y'])\n"
        "print(col.query(query_embeddings=[[0.9, 0.1]], n_results=1)['ids'])\n"
    )
    assert out.splitlines() == ["True True", "True", "[['a']]"]


def test_mark_override_marks_in_both_decorator_forms_and_restores_on_errors() -> None:
    import overrides

    from vectorstore import importing

    def f() -> None: ...

    def g() -> None: ...

    assert importing.mark_override(f) is f and f.__override__  # type: ignore[attr-defined]
    assert importing.mark_override(check_signature=False)(g) is g
    assert g.__override__  # type: ignore[attr-defined]
    real = overrides.override
    with pytest.raises(RuntimeError), importing._unchecked_overrides():
        assert overrides.override is importing.mark_override
        raise RuntimeError("a failed chromadb import")
    assert overrides.override is real
