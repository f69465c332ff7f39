"""The fast paths of issue 6: loop detection, sentence stops, prompt-token cache, KV reuse stats.

Unit tests use the fakes; tests marked ``integration`` load the real bundled model. None of them
asserts a duration: speed is measured by benchmarks/, these check that the fast paths do not
change what the pipeline produces.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings, TldrConfig
from assistant.llm.llama import LocalLLM
from assistant.llm.stream import REPEAT_MIN_SPAN, RepetitionGuard, common_prefix, consume
from assistant.protocols import Generation, Message
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM
from assistant.tldr import SENTENCE_STOPS, write_tldr
from assistant.types import Paper

SAMPLE = Path(__file__).resolve().parents[1] / "assistant" / "data" / "hf_daily_sample.txt"


@pytest.fixture(scope="module")
def cappy() -> Paper:
    return parse_file(SAMPLE).papers[0]


# --- the repetition guard ------------------------------------------------------------------------


def _first_trip(tokens: Sequence[int], **kw: int) -> int | None:
    """Index of the token at which the guard fires, or None."""
    guard = RepetitionGuard(**kw)
    for i, t in enumerate(tokens):
        if guard.push(t):
            return i
    return None


def test_guard_stops_a_phrase_loop_after_two_periods() -> None:
    # "the previous best achieved by" x N, as token ids
    phrase = [11, 12, 13, 14, 15, 16, 17, 18, 19]
    tokens = [1, 2, 3] + phrase * 6
    hit = _first_trip(tokens)
    assert hit is not None
    # it fires once two whole periods (and at least REPEAT_MIN_SPAN tokens) repeat
    assert hit == 3 + max(2 * len(phrase), REPEAT_MIN_SPAN) - 1


def test_guard_period_is_reported() -> None:
    guard = RepetitionGuard()
    for t in [5, 6, 7, 8] * 10:
        if guard.push(t):
            break
    assert guard.period == 4


def test_guard_short_periods_need_the_minimum_span() -> None:
    # one token repeated: fires only after REPEAT_MIN_SPAN copies
    assert _first_trip([9] * 40) == REPEAT_MIN_SPAN - 1
    assert _first_trip([9] * (REPEAT_MIN_SPAN - 1)) is None
    assert _first_trip([1, 2] * 20) == REPEAT_MIN_SPAN - 1


def test_guard_ignores_ordinary_text_with_repeated_words() -> None:
    # words recur ("the", "of", ",") but no span repeats as a whole
    sentence = (
        "the model of the paper improves the accuracy of the baseline , and the size of the "
        "model is small , while the cost of the training is low and the speed of the model is "
        "high on all of the tasks of the benchmark"
    )
    text = sentence.split(" ")
    ids = {w: i for i, w in enumerate(dict.fromkeys(text))}
    assert _first_trip([ids[w] for w in text]) is None


def test_guard_resets_its_run_when_the_loop_breaks() -> None:
    period = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    broken = period + period[:9] + [99] + period[:9]  # 19 repeating, a break, then 9
    assert _first_trip(broken) is None


def test_guard_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        RepetitionGuard(max_period=0)
    with pytest.raises(ValueError):
        RepetitionGuard(min_span=1)


def test_consume_ends_a_loop_with_finish_reason_repetition() -> None:
    pieces = {1: b"Intro. ", 2: b"the ", 3: b"previous ", 4: b"best ", 5: b"achieved ", 6: b"by "}
    stream = [1] + [2, 3, 4, 5, 6] * 40
    streamed: list[str] = []
    out = consume(
        iter(stream),
        piece=lambda t: pieces[t],
        is_end=lambda t: False,
        budget=160,
        stops=[],
        on_token=streamed.append,
        guard=RepetitionGuard(),
    )
    assert out.finish_reason == "repetition"
    assert out.n_tokens == 1 + REPEAT_MIN_SPAN  # far below the 160-token budget
    assert "".join(streamed) == out.text  # the streaming contract still holds
    assert out.text.startswith("Intro. the previous best achieved by")


def test_consume_without_guard_runs_to_the_budget() -> None:
    out = consume(
        iter([7] * 50),
        piece=lambda t: b"x",
        is_end=lambda t: False,
        budget=40,
        stops=[],
        on_token=None,
    )
    assert (out.n_tokens, out.finish_reason) == (40, "length")


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2


# --- TL;DR: sentence stops and looped outputs ----------------------------------------------------


def test_tldr_stops_at_the_start_of_a_second_sentence(cappy: Paper) -> None:
    llm = FakeLLM().enqueue(
        "Cappy is a small pretrained scorer that boosts multi-task LLMs. It has 360 million "
        "parameters and many more words that would otherwise be generated."
    )
    rec = write_tldr(cappy, llm=llm, embedder=FakeEmbedder(), config=TldrConfig())
    stops = llm.call_kwargs[0]["stop"]
    assert isinstance(stops, list)
    assert "\n" in stops and ". I" in stops and ". T" in stops
    assert rec.method == "generated"
    assert rec.tldr == "Cappy is a small pretrained scorer that boosts multi-task LLMs."


def test_sentence_stops_do_not_cut_abbreviations_or_decimals() -> None:
    assert set(SENTENCE_STOPS) == {"\n", *(f". {c}" for c in string.ascii_uppercase)}
    for text in ("e.g. the encoder", "reaches 85.3 on COCO", "Fig. 3 shows", "vs. baselines"):
        assert not any(s in text for s in SENTENCE_STOPS), text


class _LoopingLLM(FakeLLM):
    """A FakeLLM whose first generation ends as a detected loop."""

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        temperature: float = 0.0,
        seed: int | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Generation:
        gen = super().generate(
            messages,
            max_tokens=max_tokens,
            stop=stop,
            temperature=temperature,
            seed=seed,
            on_token=on_token,
        )
        if len(self.calls) == 1:
            return gen.model_copy(update={"finish_reason": "repetition"})
        return gen


def test_tldr_never_accepts_a_looped_generation(cappy: Paper) -> None:
    # "TaskExpert: TaskExpert: ..." cut short by the guard would pass every gate; it must not
    looped = "Cappy: Cappy: Cappy: Cappy: Cappy scorer boosts LLMs"
    good = "Cappy is a pretrained small scorer that boosts multi-task LLMs."
    llm = _LoopingLLM().enqueue(looped, good)
    rec = write_tldr(cappy, llm=llm, embedder=FakeEmbedder(), config=TldrConfig())
    assert len(llm.calls) == 2
    assert rec.tldr == good


# --- LocalLLM bookkeeping without a model ---------------------------------------------------------


class _FakeLlama:
    """Just enough of ``llama_cpp.Llama`` for LocalLLM's prompt path and its KV bookkeeping."""

    def __init__(self) -> None:
        self.tokenize_calls = 0
        self.n_tokens = 0
        self.input_ids: Any = None
        self._requires_eval = True

    def tokenize(self, data: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        self.tokenize_calls += 1
        return ([1] if add_bos else []) + [b for b in data]


def _offline_llm(tmp_path: Path) -> tuple[LocalLLM, _FakeLlama]:
    weights = tmp_path / "fake.gguf"
    weights.write_bytes(b"not a real model")
    llm = LocalLLM(Settings(data_dir=tmp_path / "data", model_path=weights))
    fake = _FakeLlama()
    llm._llama = fake  # loaded: no verification, no llama.cpp
    llm._neutralise = lambda llama, text: text  # type: ignore[method-assign]
    return llm, fake


def test_prompt_tokens_are_cached_per_messages(tmp_path: Path) -> None:
    llm, fake = _offline_llm(tmp_path)
    msgs: list[Message] = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    first = llm.prompt_token_ids(msgs)
    calls = fake.tokenize_calls
    assert llm.prompt_tokens(msgs) == len(first)
    again = llm.prompt_token_ids([dict(m) for m in msgs])  # equal content, new objects
    assert again == first and fake.tokenize_calls == calls
    again.append(99)  # callers get a copy: the cache cannot be mutated through it
    assert llm.prompt_token_ids(msgs) == first
    other = llm.prompt_token_ids([{"role": "user", "content": "Q2"}])
    assert other != first and fake.tokenize_calls > calls


def test_prompt_cache_is_bounded(tmp_path: Path) -> None:
    llm, _ = _offline_llm(tmp_path)
    for i in range(100):
        llm.prompt_token_ids([{"role": "user", "content": f"q{i}"}])
    assert len(llm._prompt_cache) <= 32


class _ScriptedLlama(_FakeLlama):
    """Replays sampled tokens through ``generate`` and keeps llama-cpp-python's KV bookkeeping."""

    def __init__(self, outputs: list[list[int]]) -> None:
        import numpy as np

        super().__init__()
        self.outputs = outputs
        self.input_ids = np.zeros(4096, dtype=np.intc)

    def set_seed(self, seed: int) -> None:
        pass

    def detokenize(self, tokens: list[int], special: bool = False) -> bytes:
        return b"".join(b"w%d " % t for t in tokens)

    def generate(self, tokens: list[int], **kw: Any) -> Iterator[int]:
        prefix = common_prefix(self.input_ids[: self.n_tokens].tolist(), tokens)
        keep = prefix - 1 if prefix == len(tokens) else prefix
        todo = list(tokens[keep:])
        self.n_tokens = keep
        for token in self.outputs.pop(0):
            self.input_ids[self.n_tokens : self.n_tokens + len(todo)] = todo
            self.n_tokens += len(todo)
            yield token
            todo = [token]


def test_stats_and_trace_record_kv_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_vocab_is_eog", lambda vocab, token: token == 0)
    llm, _ = _offline_llm(tmp_path)
    scripted = _ScriptedLlama([[5, 6, 0], [7, 0], [8, 9, 0]])
    llm._llama = scripted
    llm._neutralise = lambda llama, text: text  # type: ignore[method-assign]
    llm.trace = []
    system: Message = {"role": "system", "content": "fixed instructions " * 4}
    a = [system, {"role": "user", "content": "first question"}]
    b = [system, {"role": "user", "content": "second one"}]
    g1 = llm.generate(a, max_tokens=10)
    g2 = llm.generate(b, max_tokens=10)
    g3 = llm.generate(b, max_tokens=10)  # a retry of the same prompt
    assert [g.completion_tokens for g in (g1, g2, g3)] == [2, 1, 2]
    t1, t2, t3 = llm.trace
    assert t1.reused == 0
    shared = common_prefix(t1.prompt, t2.prompt)
    assert shared > len("fixed instructions " * 4)  # the whole system turn is shared
    assert t2.reused == shared
    assert t3.reused == len(t3.prompt) - 1  # only the last prompt token is re-evaluated
    assert [e.sampled for e in llm.trace] == [(5, 6, 0), (7, 0), (8, 9, 0)]
    st = llm.stats
    assert st.calls == 3 and st.completion_tokens == 5
    assert st.reused_tokens == t2.reused + t3.reused
    assert st.evaluated_prompt_tokens == st.prompt_tokens - st.reused_tokens
    st.reset()
    assert st.calls == 0 and st.prompt_tokens == 0


# --- integration: the real model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> LocalLLM:
    model = LocalLLM(Settings(data_dir=tmp_path_factory.mktemp("data")))
    model.load()
    return model


@pytest.mark.integration
def test_fixed_system_part_is_a_byte_identical_token_prefix(real: LocalLLM, cappy: Paper) -> None:
    from assistant import prompting

    papers = parse_file(SAMPLE).papers[:3]
    prompts = [
        real.prompt_token_ids(
            prompting.split_system_user("tldr", title=p.title, abstract=p.abstract, lead="")
        )
        for p in papers
    ]
    system = prompting.split_system_user("tldr", title="x", abstract="y", lead="")[0]["content"]
    shared = min(common_prefix(prompts[0], p) for p in prompts[1:])
    assert real.count_tokens(system) < shared  # the whole system turn, and its header
    for name in ("answer", "rewrite"):
        variables = {v: "v" for v in prompting.template_variables(name)}
        one = real.prompt_token_ids(prompting.split_system_user(name, **variables))
        variables = {v: "w w" for v in variables}
        two = real.prompt_token_ids(prompting.split_system_user(name, **variables))
        sys_text = prompting.split_system_user(name, **variables)[0]["content"]
        assert common_prefix(one, two) > real.count_tokens(sys_text)


@pytest.mark.integration
def test_kv_prefix_hit_is_recorded_across_tldr_prompts(real: LocalLLM) -> None:
    from assistant import prompting

    papers = parse_file(SAMPLE).papers[3:5]
    real.stats.reset()
    for p in papers:
        real.generate(
            prompting.split_system_user("tldr", title=p.title, abstract=p.abstract, lead=""),
            max_tokens=4,
        )
    system = prompting.split_system_user("tldr", title="x", abstract="y", lead="")[0]["content"]
    assert real.stats.calls == 2
    assert real.stats.reused_tokens > real.count_tokens(system)  # the second call reused it


@pytest.mark.integration
def test_guard_does_not_change_a_generation_that_does_not_loop(real: LocalLLM) -> None:
    messages: list[Message] = [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Name three primary colours."},
    ]
    real.stop_on_repetition = False
    try:
        plain = real.generate(messages, max_tokens=24)
    finally:
        real.stop_on_repetition = True
    guarded = real.generate(messages, max_tokens=24)
    if guarded.finish_reason != "repetition":
        assert guarded.text == plain.text
    else:  # the guard fired: the guarded text is a prefix of the unguarded one
        assert plain.text.startswith(guarded.text)


@pytest.mark.integration
def test_guard_cuts_a_real_loop_short(real: LocalLLM) -> None:
    messages: list[Message] = [
        {"role": "user", "content": "Repeat the words 'the previous best' forever."},
    ]
    real.stop_on_repetition = False
    try:
        free = real.generate(messages, max_tokens=96)
    finally:
        real.stop_on_repetition = True
    guarded = real.generate(messages, max_tokens=96)
    assert free.text.startswith(guarded.text)
    if free.finish_reason == "length" and _loops(free.text):
        assert guarded.finish_reason == "repetition"
        assert guarded.completion_tokens < free.completion_tokens


def _loops(text: str) -> bool:
    words = text.split()
    tail = words[-12:]
    return len(words) >= 24 and " ".join(tail) in " ".join(words[:-12])


# --- whole-store reads at scale -------------------------------------------------------------------


def test_whole_store_reads_are_paged(monkeypatch: pytest.MonkeyPatch) -> None:
    """100k chunks in one Chroma get() fail ("too many SQL variables"); reads go page by page."""
    import uuid

    from assistant.ingest import ingest_papers
    from vectorstore import chroma

    papers = parse_file(SAMPLE).papers[:7]
    store = chroma.ChromaStore(None, f"t-{uuid.uuid4().hex[:12]}")
    ingest_papers(papers, store=store, embedder=FakeEmbedder(), chunk_tokens=40, chunk_overlap=8)
    whole = {h.chunk_id for h in store.all_chunks()}
    calls: list[dict[str, Any]] = []
    real_get = store._chunks.get

    def spy(**kw: Any) -> Any:
        calls.append(kw)
        return real_get(**kw)

    monkeypatch.setattr(chroma, "_PAGE", 3)
    monkeypatch.setattr(store._chunks, "get", spy)
    paged = store.all_chunks()
    assert {h.chunk_id for h in paged} == whole and len(paged) == len(whole) > 7
    assert len(calls) == len(whole) // 3 + 1 and all(c["limit"] == 3 for c in calls)
    assert {p.paper_id for p in store.papers()} == {p.paper_id for p in papers}
    assert set(store.hashes()) == store.committed_ids() == {p.paper_id for p in papers}


# --- cold start: the model loads while the embedder and retrieval work ---------------------------


class _LoadingLLM(FakeLLM):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.loads = 0
        self.fail = fail

    def load(self) -> float:
        self.loads += 1
        if self.fail:
            raise RuntimeError("cannot read the GGUF")
        return 0.0


def test_preload_model_loads_once_in_the_background(tmp_path: Path, mem_store: Any) -> None:
    from assistant.service import Assistant

    llm = _LoadingLLM()
    with Assistant(Settings(data_dir=tmp_path), llm=llm, store=mem_store) as a:
        thread = a.preload_model()
        thread.join(timeout=10)
        assert not thread.is_alive() and thread.daemon and llm.loads == 1


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failed_preload_is_silent_and_left_to_the_first_call(
    tmp_path: Path, mem_store: Any
) -> None:
    """The background thread must not print a traceback; the real model call reports it."""
    from assistant.service import Assistant

    llm = _LoadingLLM(fail=True)
    with Assistant(Settings(data_dir=tmp_path), llm=llm, store=mem_store) as a:
        a.preload_model().join(timeout=10)
        assert llm.loads == 1
        with pytest.raises(RuntimeError, match="cannot read the GGUF"):
            llm.load()
