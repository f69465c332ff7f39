"""End to end: the eval must fail when the answerer is broken.

Fast: FakeLLM + FakeEmbedder + a real Chroma store in a temp dir. The full real-model eval runs
in `make test` through `assistant eval`; only a short smoke run is marked integration here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant import answer as answer_mod
from assistant import grounding
from assistant.cli import main
from assistant.config import Settings
from assistant.files import cpu_threads
from assistant.protocols import Message
from assistant.testing import FakeEmbedder, FakeLLM, user_text
from assistant.types import SentenceCheck
from evals.gate import Threshold
from evals.runner import run_suites

_BLOCK = re.compile(r"^\[(\d+)\] [^\n]*\n(.+?)(?=\n\n\[\d+\] |\n\nQuestion:|\Z)", re.M | re.S)


def _first_source_sentence(messages: list[Message]) -> str:
    blocks = _BLOCK.findall(user_text(messages))
    if not blocks:
        return "I can't answer that from the indexed abstracts."
    marker, text = blocks[0]
    sentences = grounding.split_sentences(text)
    return f"{sentences[0]} [{marker}]" if sentences else ""


def honest(messages: list[Message]) -> str:
    """Repeats the first sentence of source [1] verbatim, cited: always supported."""
    return _first_source_sentence(messages)


def liar(messages: list[Message]) -> str:
    """Like ``honest`` but every number is wrong, plus a made-up claim."""
    text = re.sub(r"\d+", lambda m: str(int(m.group()) + 7), _first_source_sentence(messages))
    return text + " It was first released by OpenAI in Tokyo with 999 billion parameters [1]."


FIXTURES = Path(__file__).resolve().parent.parent / "evals" / "fixtures"


def _small_fixtures(dest: Path, n: int) -> Path:
    """The first ``n`` rows of each QA fixture file (all TL;DR and judge rows)."""
    dest.mkdir()
    for f in FIXTURES.glob("*.jsonl"):
        lines = f.read_text("utf-8").splitlines()
        keep = lines if f.name in ("tldr_facts.jsonl", "judge_labelled.jsonl") else lines[:n]
        (dest / f.name).write_text("\n".join(keep) + "\n", "utf-8")
    return dest


def _settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({"data_dir": tmp_path / "unused"})


GATES = {
    "qa": {
        "unsupported_sentence_rate": Threshold(max=0.0, goal=0.0),
        "absent_numbers": Threshold(max=0, goal=0),
        "model_sentence_share": Threshold(min=0.05, goal=0.8),
    }
}


def _values(result: object) -> dict[str, float | None]:
    suite = result.suites[0]  # type: ignore[attr-defined]
    return dict(suite.values)


def test_honest_fake_model_passes_the_grounding_gates(tmp_path: Path) -> None:
    result = run_suites(
        ["qa"],
        _settings(tmp_path),
        llm=FakeLLM(responder=honest),
        embedder=FakeEmbedder(),
        fixtures_dir=_small_fixtures(tmp_path / "fx", 20),
        thresholds=GATES,
        temp_parent=tmp_path,
        progress=False,
        log=None,
    )
    values = _values(result)
    assert values["unsupported_sentence_rate"] == 0.0
    # the answer leads with a verbatim quote; the honest model adds its own verified sentences
    # (one to three quotes lead, so the share sits near 0.09 with 20 questions; 0 if none shown)
    assert values["model_sentence_share"] is not None and values["model_sentence_share"] > 0.05
    assert result.passed, [m.name for m in result.failed_metrics]
    assert list(tmp_path.glob("assistant-eval-*")) == []  # the temp store is removed
    # the model's output depends on its thread count: the eval pins it, whatever the load
    assert result.meta["n_threads"] == cpu_threads()
    # the shown audit is derived from the same cases, graded without the judge
    shown = next(s for s in result.suites if s.name == "shown")
    assert shown.values["quote_verbatim_rate"] == 1.0
    share = shown.values["model_written_share"]  # list answers count one quote per paper
    assert share is not None and share > 0.05
    assert shown.values["label_coverage"] == 0.0  # the fake's sentences carry no hand label


def test_lying_model_fails_even_though_the_pipeline_hides_its_lies(tmp_path: Path) -> None:
    """Every sentence is replaced by a verbatim quote, so nothing false is shown, but the
    model's own text never survives: the model-share gate catches it."""
    result = run_suites(
        ["qa"],
        _settings(tmp_path),
        llm=FakeLLM(responder=liar),
        embedder=FakeEmbedder(),
        fixtures_dir=_small_fixtures(tmp_path / "fx", 20),
        thresholds=GATES,
        temp_parent=tmp_path,
        progress=False,
        log=None,
    )
    values = _values(result)
    assert values["unsupported_sentence_rate"] == 0.0  # the pipeline's verifier held
    assert values["model_sentence_share"] == 0.0
    assert not result.passed
    assert "model_sentence_share" in {m.name for m in result.failed_metrics}


def test_broken_verifier_makes_assistant_eval_exit_nonzero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lying model behind a verifier that lets everything through: `assistant eval` must
    fail on unsupported sentences and absent numbers, re-judged independently by the eval."""

    def show_everything(self: answer_mod._Verifier, sentence: str) -> None:
        sentence = sentence.strip()
        if not sentence:
            return
        marker = next(iter(self.blocks))
        self.used.setdefault(marker, "")
        self.checks.append(
            SentenceCheck(text=sentence, supported=True, support=1.0, cites=[marker])
        )
        self._emit(sentence)

    monkeypatch.setattr(answer_mod._Verifier, "feed", show_everything)
    monkeypatch.setattr("assistant.llm.llama.LocalLLM", lambda settings: FakeLLM(responder=liar))
    monkeypatch.setattr("assistant.embedding.minilm.MiniLMEmbedder", lambda **kw: FakeEmbedder())
    report = tmp_path / "out" / "report.md"
    code = main(
        [
            "eval",
            "--suite",
            "qa",
            "--json",
            "--quiet",
            "--data-dir",
            str(tmp_path),
            "--report",
            str(report),
        ]
    )
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False
    assert "qa.unsupported_sentence_rate" in data["failed_metrics"]
    qa = data["suites"][0]
    assert qa["values"]["unsupported_sentence_rate"] > 0.3
    assert qa["values"]["absent_numbers"] > 0
    md = report.read_text("utf-8")
    assert "unsupported sentence" in md and "OpenAI" in md
    assert report.with_suffix(".png").is_file() and report.with_suffix(".json").is_file()


def test_eval_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--judge-model" in out and "--report" in out


def test_judge_suite_with_a_fake_llm_judge(tmp_path: Path) -> None:
    """The optional LLM judge is reported but never gated; 'yes' to everything agrees with
    the labels only on the good half."""
    result = run_suites(
        ["judge"],
        _settings(tmp_path),
        embedder=FakeEmbedder(),
        judge_llm=FakeLLM(default_text="Yes."),
        thresholds={},
        temp_parent=tmp_path,
        progress=False,
        log=None,
    )
    values = _values(result)
    assert values["llm_judge_unparsed"] == 0.0
    assert values["llm_judge_agreement"] is not None
    assert 0.3 < values["llm_judge_agreement"] < 0.7
    assert not any(m.gated for m in result.metrics)


def _tiny_world(dest: Path) -> tuple[Path, Path]:
    """A 4-paper corpus (JSONL, same titles hence same ids) with one answerable and one
    off-topic question, and the TL;DR and judge rows of those papers."""
    from evals.cases import load_corpus

    qa = json.loads((FIXTURES / "qa_answerable.jsonl").read_text("utf-8").splitlines()[0])
    off = (FIXTURES / "qa_unanswerable.jsonl").read_text("utf-8").splitlines()[0]
    papers = load_corpus()
    gold = [p for p in papers if p.title in qa["gold_titles"]]
    keep = gold + [p for p in papers if p not in gold][:3]
    titles = {p.title for p in keep}
    corpus = dest / "corpus.jsonl"
    fx = dest / "fx"
    fx.mkdir(parents=True)
    corpus.write_text(
        "".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in keep),
        "utf-8",
    )
    (fx / "qa_answerable.jsonl").write_text(json.dumps(qa) + "\n", "utf-8")
    (fx / "qa_multi.jsonl").write_text("", "utf-8")
    (fx / "qa_unanswerable.jsonl").write_text(off + "\n", "utf-8")
    for name in ("tldr_facts.jsonl", "judge_labelled.jsonl"):
        rows = (FIXTURES / name).read_text("utf-8").splitlines()
        kept = [r for r in rows if json.loads(r)["title"] in titles]
        (fx / name).write_text("".join(r + "\n" for r in kept), "utf-8")
    return corpus, fx


@pytest.mark.integration
def test_real_model_smoke(tmp_path: Path) -> None:
    """One answerable and one off-topic question through the bundled model and the real
    embedder over a 4-paper store (the full eval is `assistant eval`, run by `make test`)."""
    corpus, fx = _tiny_world(tmp_path / "world")
    result = run_suites(
        ["qa"],
        _settings(tmp_path),
        corpus=corpus,
        fixtures_dir=fx,
        thresholds={},
        temp_parent=tmp_path,
        progress=False,
        log=None,
    )
    values = _values(result)
    cases = result.suites[0].cases
    assert [c.id for c in cases] == ["qa-001", "un-001"]
    assert values["abstention_off_topic"] == 1.0  # "What is the capital of France?"
    assert cases[0].answer.strip()
    assert values["recall_at_k"] == 1.0
    assert result.meta["model"] and result.meta["embedder"] == "all-MiniLM-L6-v2"


@pytest.mark.parametrize("configured", [None, 1])
def test_the_eval_pins_the_model_thread_count(tmp_path: Path, configured: int | None) -> None:
    """llama.cpp's text depends on its thread count, and the adaptive policy uses fewer
    threads on a busy machine: the eval runs with a fixed count so its metrics do not move
    with the load (the configured count, else every allowed CPU)."""
    seen: list[int | None] = []

    def answer(assistant: object, question: str) -> object:
        seen.append(assistant.settings.n_threads)  # type: ignore[attr-defined]
        return assistant.ask(question)  # type: ignore[attr-defined]

    settings = _settings(tmp_path).model_copy(update={"n_threads": configured})
    result = run_suites(
        ["qa"],
        settings,
        llm=FakeLLM(responder=honest),
        embedder=FakeEmbedder(),
        answer_fn=answer,  # type: ignore[arg-type]
        fixtures_dir=_small_fixtures(tmp_path / "fx", 2),
        thresholds=None,
        temp_parent=tmp_path,
        progress=False,
        log=None,
    )
    want = configured or cpu_threads()
    assert seen and set(seen) == {want}
    assert result.meta["n_threads"] == want
