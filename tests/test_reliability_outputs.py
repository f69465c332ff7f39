"""Threat 2 (files half): every output file and JSON stream survives hostile text.

Model and abstract text can hold quotes, newlines, NUL, U+2028/U+2029/U+0085 (JSON allows those
raw, but ``str.splitlines()`` and older JavaScript split lines on them), HTML and pipes. Every
JSONL line must parse on its own whichever splitter a reader uses, CSV must round-trip and
Markdown must stay a table with the HTML inert. The browser half (rendering in the UI) lives in
tests/test_ui_browser.py. tests/test_tldr.py covers ``render_export`` itself; here the CLI paths
(`ask --json`, `ask --questions-file`, `tldr` to stdout and --out), the journal and the reindex
backup are covered.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant import service
from assistant.cli import main
from assistant.config import Settings
from assistant.journal import TldrJournal
from assistant.service import open_library
from assistant.testing import FakeEmbedder
from assistant.types import Answer, Citation, Paper, RetrievedRef, Tldr
from tests.conftest import ASSISTANT
from tests.helpers_reliability import subprocess_env

NASTY = (
    'He said "hi", then\nleft | <script>alert(1)</script> <img src=x onerror=alert(2)> '
    "\u2028 line \u2029 para \x85 nel \r\n crlf \\ back\tslash, comma; end\x00"
)


def _lines(text: str) -> list[dict[str, Any]]:
    """Parse JSONL; every splitter must agree on where the lines are."""
    by_newline = [line for line in text.split("\n") if line]
    assert text.endswith("\n")
    assert [line for line in text.splitlines() if line] == by_newline
    return [json.loads(line) for line in by_newline]


def _paper(i: int) -> Paper:
    return Paper.build(title=f"{NASTY} {i}", abstract=f"{NASTY} abstract {i}.")


def _tldr(p: Paper) -> Tldr:
    return Tldr(
        paper_id=p.paper_id,
        title=p.title,
        tldr=NASTY,
        method="generated",
        support=0.9,
        words=len(NASTY.split()),
        provenance={"content_hash": p.content_hash},
    )


class StubAssistant:
    """Stands in for assistant.service.Assistant in the CLI: hostile text everywhere."""

    papers = [_paper(0), _paper(1)]

    def __init__(self, settings: Settings, *, write: bool = False, preload: bool = False) -> None:
        self.library = SimpleNamespace(papers=lambda: list(self.papers))
        self.journal = SimpleNamespace(records={}, forget=lambda keep: None)

    def __enter__(self) -> StubAssistant:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def ask(self, question: str, **_: object) -> Answer:
        cite = Citation(marker=1, paper_id="p", title=NASTY, chunk_id="p#0", quote=NASTY, url=None)
        return Answer(
            question=question,
            answer=NASTY,
            abstained=False,
            citations=[cite],
            retrieved=[RetrievedRef(paper_id="p", title=NASTY, score=1.0)],
            raw_model_text=NASTY,
        )

    def tldrs(
        self, papers: list[Paper], *, on_done: Any = None, concurrency: int = 1
    ) -> list[Tldr]:
        out = [_tldr(p) for p in papers]
        for rec in out:
            if on_done:
                on_done(rec, False)
        return out


@pytest.fixture()
def stub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "Assistant", StubAssistant)


def test_ask_json_is_one_parseable_line_per_answer(
    stub: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", NASTY, "--json"]) == 0
    [got] = _lines(capsys.readouterr().out)
    assert got["question"] == NASTY and got["answer"] == NASTY
    assert got["citations"][0]["quote"] == NASTY and got["citations"][0]["title"] == NASTY
    assert "raw_model_text" not in got


def test_questions_file_lines_may_hold_any_character(
    stub: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = [NASTY, "plain question?", "tab\there \u2028 and \x85 inside"]
    qfile = tmp_path / "q.jsonl"
    # as another tool might write it: UTF-8 raw, so U+2028 and U+0085 appear unescaped
    qfile.write_text(
        "".join(json.dumps({"q": q}, ensure_ascii=False) + "\n" for q in questions)
        + "a plain text line\r\n",
        encoding="utf-8",
    )
    assert main(["ask", "--questions-file", str(qfile), "--json"]) == 0
    got = _lines(capsys.readouterr().out)
    assert [g["question"] for g in got] == [*[q.strip() for q in questions], "a plain text line"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "md"])
def test_tldr_cli_outputs_parse(
    stub: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    n = len(StubAssistant.papers)
    assert main(["tldr", "--all", "--format", fmt, "--quiet"]) == 0
    stdout = capsys.readouterr().out
    out = tmp_path / f"tldrs.{fmt}"
    assert main(["tldr", "--all", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    # the file as bytes: read_text() would turn the "\r\n" inside a CSV field into "\n"
    for text in (out.read_bytes().decode("utf-8"), stdout):
        if fmt == "jsonl":
            rows = _lines(text)
            assert [r["tldr"] for r in rows] == [NASTY] * n  # escaped in JSON: exact
            assert [r["title"] for r in rows] == [p.title for p in StubAssistant.papers]
        elif fmt == "csv":
            rows = list(csv.reader(io.StringIO(text, newline="")))
            assert [r[2] for r in rows[1:]] == [NASTY] * n
        else:
            lines = text.split("\n")
            assert len([ln for ln in lines if ln]) == 2 + n  # header, rule, one row per paper
            assert "<script>" not in text and "<img" not in text and "\x00" not in text
            for ln in filter(None, lines):  # four cells: five unescaped pipes per line
                assert len(re.findall(r"(?<!\\)\|", ln)) == 5, ln


def test_tldr_json_flag_prints_jsonl(stub: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tldr", "--all", "--json", "--quiet"]) == 0
    rows = _lines(capsys.readouterr().out)
    assert [r["tldr"] for r in rows] == [NASTY, NASTY]


def test_journal_lines_survive_hostile_text(tmp_path: Path) -> None:
    path = tmp_path / "tldrs.jsonl"
    journal = TldrJournal(path)
    for p in StubAssistant.papers:
        journal.append(_tldr(p))
    written = path.read_bytes()
    rows = _lines(written.decode("utf-8"))
    assert [r["tldr"] for r in rows] == [NASTY, NASTY]
    again = TldrJournal(path)
    assert [r.tldr for r in again.records.values()] == [NASTY, NASTY]
    assert path.read_bytes() == written  # a clean journal is not "repaired" on reopen


def test_reindex_backup_keeps_abstracts_with_line_separators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reindex killed after dropping the store recovers every abstract from its backup."""
    settings = Settings(data_dir=tmp_path / "data")
    papers = [_paper(0), _paper(1), Paper.build(title="Plain", abstract="Plain text.")]
    with open_library(settings, write=True, embedder=FakeEmbedder()) as lib:
        lib.ingest(papers)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed mid-reindex")

    with open_library(settings, write=True, embedder=FakeEmbedder(), check=False) as lib:
        monkeypatch.setattr(lib, "ingest", crash)
        with pytest.raises(RuntimeError):
            lib.reindex()
    monkeypatch.undo()
    backup = settings.data_dir / "reindex-backup.jsonl"
    assert backup.is_file()
    with open_library(settings, write=True, embedder=FakeEmbedder(), check=False) as lib:
        assert lib.store.count_papers() == 0  # the crash left an empty store
        report = lib.reindex()
        assert sorted(report.added) == sorted(p.paper_id for p in papers)
        assert {p.paper_id: p.abstract for p in lib.papers()} == {
            p.paper_id: p.abstract for p in papers
        }
    assert not backup.exists()


@pytest.mark.integration
def test_real_ask_json_with_hostile_question(sample_store: Any, tmp_path: Path) -> None:
    """The real pipeline end to end: the answer line parses and echoes the question exactly."""
    assert sample_store.returncode == 0, sample_store.stderr
    data_dir = tmp_path / "data"
    shutil.copytree(sample_store.data_dir, data_dir)
    question = 'How many parameters does "Cappy" have?\u2028\x85\n<script>x</script>\x00'
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"q": question}, ensure_ascii=False) + "\n", encoding="utf-8")
    env = subprocess_env(
        ASSISTANT_DATA_DIR=str(data_dir), ASSISTANT_ANSWER_MAX_TOKENS="48", ASSISTANT_N_THREADS="1"
    )
    proc = subprocess.run(
        [str(ASSISTANT), "ask", "--questions-file", str(qfile), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    [got] = _lines(proc.stdout)
    assert got["question"] == question.strip()
    assert isinstance(got["answer"], str) and got["answer"]
