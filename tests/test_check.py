"""`assistant check`: any text judged sentence by sentence with the answerer's judge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.check import check_text
from assistant.cli import main
from assistant.config import Settings
from assistant.service import Assistant
from assistant.testing import FakeEmbedder, FakeLLM, InMemoryStore
from assistant.types import Paper

CAPPY = Paper(
    paper_id="cappy",
    title="Cappy: Outperforming and Boosting Large Multi-Task LMs with a Small Scorer",
    abstract="Large language models demand substantial computational resources, and the most "
    "powerful multi-task LLMs are not publicly accessible. We introduce Cappy, a pretrained "
    "small scorer with 360 million parameters. Cappy outperforms FLAN-T5 on 45 complex tasks "
    "from BIG-Bench.",
)
GUIDE = Paper(
    paper_id="guide",
    title="GUIDE: A Guideline-Guided Dataset for Instructional Video Comprehension",
    abstract="We present the GUIDE dataset, which contains 3.5K videos of 560 instructional "
    "tasks in 8 domains related to our daily life.",
)


def test_check_against_a_named_paper() -> None:
    text = "Cappy has 360 million parameters. [1] Cappy is not publicly accessible."
    report = check_text(text, papers=[CAPPY])
    assert [s.supported for s in report.sentences] == [True, False]
    ok, bad = report.sentences
    assert ok.paper_id == "cappy" and "360 million" in ok.evidence
    assert "not of the paper's method" in bad.reason
    assert report.supported == 1 and report.unsupported == 1


def test_check_against_retrieved_papers(tmp_path: Path) -> None:
    store = InMemoryStore()
    with Assistant(
        Settings(data_dir=tmp_path, relevance_floor=-1.0),
        write=True,
        llm=FakeLLM(),
        embedder=FakeEmbedder(),
        store=store,
    ) as assistant:
        assistant.library.ingest([CAPPY, GUIDE])
        report = assistant.check("GUIDE contains 3.5K videos of 560 instructional tasks.")
        assert report.sentences[0].supported and report.sentences[0].paper_id == "guide"
        assert report.papers == []
        wrong = assistant.check("GUIDE contains 360 million videos.", ["guide"])
        assert not wrong.sentences[0].supported and wrong.papers == ["guide"]


def test_no_paper_about_it_is_unsupported() -> None:
    class Nothing:
        store = InMemoryStore()

        def search(self, query: str) -> object:
            class R:
                hits: list[object] = []

            return R()

    report = check_text("The moon is made of cheese.", retriever=Nothing())  # type: ignore[arg-type]
    assert not report.sentences[0].supported
    assert report.sentences[0].reason == "no indexed paper is about this"


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert "give either TEXT or --file" in capsys.readouterr().err
    assert main(["check", "--file", "/nonexistent.txt", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["type"] == "InputError"
