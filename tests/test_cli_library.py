"""`assistant ingest / papers / status / reindex` end to end: the real sample with the real
embedder, every kind of bad input, exit codes and --help."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from assistant.cli import build_parser, main
from assistant.config import load_settings
from assistant.datadir import DataDirLock
from assistant.service import open_library
from assistant.types import Paper

integration = pytest.mark.integration

CAPPY = "cappy-outperforming-and-boosting-large-multi-tas-f0c7b063"
SPOT_TITLES = {
    CAPPY: "Cappy: Outperforming and Boosting Large Multi-Task LMs with a Small Scorer",
    "distilling-step-by-step-outperforming-larger-lan-5da59189": "Distilling Step-by-Step! "
    "Outperforming Larger Language Models with Less Training Data and Smaller Model Sizes",
    "knowing-you-don-t-know-learning-when-to-continue-453bf4b1": "Knowing You Don't Know: "
    "Learning When to Continue Search in Multi-round RAG through Self-Practicing",
    "on-the-role-of-pretrained-language-models-in-gen-4c9916b0": "On The Role of Pretrained "
    "Language Models in General-Purpose Text Embeddings: A Survey",
}
GOOD = '{"title": "Glacier melt forecasting", "abstract": "We forecast glacier melt."}'
GOOD2 = '{"title": "Protein folding with diffusion", "abstract": "Diffusion folds proteins."}'

if TYPE_CHECKING:
    from tests.conftest import OfflineIngest


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """main() in-process; returns (exit code, parsed JSON stdout or raw text, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


@pytest.fixture()
def sample_copy(sample_store: OfflineIngest, isolated_env: Path) -> Path:
    """A private copy of the session's ingested sample, at ASSISTANT_DATA_DIR."""
    assert sample_store.returncode == 0, sample_store.stderr
    shutil.copytree(sample_store.data_dir, isolated_env)
    return isolated_env


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# ------------------------------------------------------------------------------ the sample


@integration
def test_sample_ingest_offline_adds_54(
    sample_store: OfflineIngest, sample_papers: list[Paper]
) -> None:
    """Run by the session fixture: `assistant ingest` in a subprocess with the hub's offline
    switches, empty HOME / XDG_CACHE_HOME / HF_HOME and non-loopback sockets refused."""
    assert sample_store.returncode == 0, sample_store.stderr
    report = sample_store.report
    assert len(report["added"]) == 54 and report["ingested"] == 54
    assert report["added"] == [p.paper_id for p in sample_papers]
    assert report["updated"] == report["unchanged"] == report["rejected"] == []
    assert not sample_store.net_log.exists(), sample_store.net_log.read_text()
    for d in sample_store.cache_dirs:
        assert list(d.iterdir()) == [], f"{d} was written to"
    manifest = json.loads((sample_store.data_dir / "manifest.json").read_text())
    assert (manifest["embedder"], manifest["dim"]) == ("all-MiniLM-L6-v2", 384)


@integration
def test_papers_list_titles_and_rerun_unchanged(
    sample_copy: Path, sample_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = run(capsys, "papers", "list", "--json")
    assert code == 0 and len(rows) == 54
    titles = {r["paper_id"]: r["title"] for r in rows}
    for pid, title in SPOT_TITLES.items():
        assert titles[pid] == title
    cappy = next(r for r in rows if r["paper_id"] == CAPPY)
    assert (cappy["published"], cappy["n_authors"]) == ("2023-11-11", 6)

    code, before, _ = run(capsys, "status", "--json")
    code, report, _ = run(capsys, "ingest", str(sample_path), "--json")
    assert code == 0
    assert len(report["unchanged"]) == 54
    assert report["added"] == report["updated"] == report["rejected"] == []
    assert report["chunks_written"] == 0
    code, after, _ = run(capsys, "status", "--json")
    assert (after["papers"], after["chunks"]) == (before["papers"], before["chunks"]) == (54, 244)


@integration
def test_papers_show(sample_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, paper, _ = run(capsys, "papers", "show", CAPPY, "--json")
    assert code == 0
    assert paper["title"] == SPOT_TITLES[CAPPY]
    assert paper["abstract"].startswith(
        "Large language models (LLMs) such as T0, FLAN, and OPT-IML"
    )
    assert (paper["n_authors"], paper["published"]) == (6, "2023-11-11")
    code, text, _ = run(capsys, "papers", "show", CAPPY)
    assert code == 0 and text.startswith(SPOT_TITLES[CAPPY] + "\n")
    code, err, _ = run(capsys, "papers", "show", "no-such-paper", "--json")
    assert code == 1 and "no-such-paper" in err["error"]


@integration
def test_papers_delete(sample_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "papers", "delete", CAPPY)
    assert code == 0
    code, rows, _ = run(capsys, "papers", "list", "--json")
    assert len(rows) == 53 and CAPPY not in {r["paper_id"] for r in rows}
    assert run(capsys, "papers", "show", CAPPY)[0] == 1
    code, out, _ = run(capsys, "papers", "delete", CAPPY, "--json")
    assert (code, out) == (1, {"paper_id": CAPPY, "deleted": False})
    code, status, _ = run(capsys, "status", "--json")
    assert status["papers"] == 53 and status["chunks"] < 244


@integration
def test_edited_abstract_replaces_that_papers_chunks(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def cappy_chunks() -> tuple[list[str], list[str], int]:
        with open_library(load_settings()) as lib:
            got = lib.store._chunks.get(where={"paper_id": CAPPY}, include=["documents"])
            return got["ids"], got["documents"], lib.store.count_chunks()

    old_ids, _, total = cappy_chunks()
    assert len(old_ids) > 1 and total == 244
    edited = {"title": SPOT_TITLES[CAPPY], "abstract": "Cappy is a small scorer. It is tiny."}
    src = write(tmp_path / "edit.jsonl", json.dumps(edited) + "\n")
    code, report, _ = run(capsys, "ingest", str(src), "--json")
    assert code == 0
    assert (report["updated"], report["added"], report["chunks_written"]) == ([CAPPY], [], 1)
    ids, docs, total_after = cappy_chunks()
    assert (ids, docs) == ([f"{CAPPY}#0"], [edited["abstract"]])  # no stale chunk left
    assert total_after == total - len(old_ids) + 1
    code, paper, _ = run(capsys, "papers", "show", CAPPY, "--json")
    assert paper["abstract"] == edited["abstract"]
    assert run(capsys, "status", "--json")[1]["papers"] == 54


@integration
def test_strict_with_a_bad_record_writes_nothing(
    sample_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write(tmp_path / "mixed.jsonl", f"{GOOD}\n{{broken\n")
    before = run(capsys, "status", "--json")[1]
    code, err, stderr = run(capsys, "ingest", str(src), "--strict", "--json")
    assert code == 2 and err["type"] == "UsageError"
    assert "mixed.jsonl:2" in stderr
    assert run(capsys, "status", "--json")[1] == before


@integration
def test_store_in_use_exit_3(sample_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    with DataDirLock(sample_copy, exclusive=True):
        code, err, _ = run(capsys, "papers", "delete", CAPPY, "--json")
    assert code == 3 and f"store is in use by PID {os.getpid()}" in err["error"]
    assert run(capsys, "papers", "show", CAPPY)[0] == 0  # nothing was deleted


# ------------------------------------------------------------------------------ bad input


@integration
def test_malformed_jsonl_line_among_good_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write(tmp_path / "mixed.jsonl", f'{GOOD}\n{{"title": broken\n{GOOD2}\n')
    code, report, _ = run(capsys, "ingest", str(src), "--json")
    assert code == 0
    assert len(report["added"]) == 2 and report["ingested"] == 2
    [rej] = report["rejected"]
    assert (rej["file"], rej["record"]) == (str(src), 2)
    assert "JSON" in rej["reason"]
    code, _, stderr = run(capsys, "ingest", str(src))
    assert code == 0 and f"rejected {src}:2" in stderr


@integration
@pytest.mark.parametrize(
    ("name", "content", "record", "reason"),
    [
        ("empty.jsonl", '{"title": "No abstract", "abstract": ""}\n' + GOOD2, 1, "empty abstract"),
        (
            "bytes.jsonl",
            b'{"title": "Bad \xff bytes", "abstract": "x"}\n' + GOOD2.encode(),
            1,
            "UTF-8",
        ),
    ],
)
def test_bad_record_rejected_good_kept(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | bytes,
    record: int,
    reason: str,
) -> None:
    src = write(tmp_path / name, content)
    code, report, _ = run(capsys, "ingest", str(src), "--json")
    assert code == 0 and report["ingested"] == 1
    [rej] = report["rejected"]
    assert (rej["file"], rej["record"]) == (str(src), record) and reason in rej["reason"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("allbad.jsonl", "{broken\nnot json either\n", "malformed JSON"),
        ("notes.txt", "Just some notes.\nNothing structured here.\n", "cannot tell which format"),
        ("nocol.csv", "title,url\nA title,http://x\n", "missing required column"),
        ("rss.xml", '<?xml version="1.0"?><rss><channel/></rss>', "not an Atom feed"),
        ("empty.txt", "", "empty file"),
        ("missing.jsonl", None, "no such file"),
    ],
)
def test_nothing_ingested_exit_1_names_the_file(
    isolated_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    message: str,
) -> None:
    src = tmp_path / name
    if content is not None:
        write(src, content)
    code, report, _ = run(capsys, "ingest", str(src), "--json")
    assert code == 1
    assert report["ingested"] == 0 and report["rejected"]
    assert all(r["file"] == str(src) for r in report["rejected"])
    assert any(message in r["reason"] for r in report["rejected"])
    code, _, stderr = run(capsys, "ingest", str(src))
    assert code == 1 and str(src) in stderr and message in stderr
    assert not (isolated_env / "chroma").exists()  # nothing to write, store never opened


def test_file_over_the_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASSISTANT_MAX_INPUT_MB", "1")
    src = write(tmp_path / "huge.jsonl", (GOOD + "\n") * 20_000)  # ~1.4 MB
    code, report, _ = run(capsys, "ingest", str(src), "--json")
    assert code == 1
    [rej] = report["rejected"]
    assert rej["file"] == str(src) and "too large" in rej["reason"]


@integration
def test_one_bad_file_among_good_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.jsonl", GOOD + "\n")
    missing = tmp_path / "missing.jsonl"
    code, report, _ = run(capsys, "ingest", str(good), str(missing), "--json")
    assert code == 0 and report["ingested"] == 1
    assert [r["file"] for r in report["rejected"]] == [str(missing)]
    assert report["files"] == [str(good), str(missing)]


# ------------------------------------------------------------------------------ usage, help


def test_no_args_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["ingest"],
        ["ingest", "x.jsonl", "--format", "yaml"],
        ["papers"],
        ["papers", "show"],
        ["no-such-command"],
        ["status", "--no-such-flag"],
    ],
)
def test_bad_usage_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def _commands() -> list[list[str]]:
    """Every command and sub-command the parser knows, as argv prefixes."""
    found: list[list[str]] = [[]]

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


def test_library_commands_are_registered() -> None:
    names = {" ".join(c) for c in _commands()}
    assert {"ingest", "papers list", "papers show", "papers delete", "reindex", "config"} <= names
    assert "status" in names


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a) or "assistant")
def test_every_help_has_an_example(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    assert "example" in capsys.readouterr().out.lower()


@integration
def test_reindex_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "two.jsonl", f"{GOOD}\n{GOOD2}\n")
    code, first, _ = run(capsys, "ingest", str(src), "--json")
    assert code == 0 and len(first["added"]) == 2
    data_dir = Path(run(capsys, "config", "--json")[1]["data_dir"])
    manifest = data_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"dim": 384', '"dim": 128'))
    code, err, _ = run(capsys, "status", "--json")
    assert code == 1 and "assistant reindex" in err["error"] and "128" in err["error"]
    assert run(capsys, "ingest", str(src), "--json")[0] == 1  # refused too
    code, report, _ = run(capsys, "reindex", "--json")
    assert code == 0 and sorted(report["added"]) == sorted(first["added"])
    code, status, _ = run(capsys, "status", "--json")
    assert code == 0 and (status["papers"], status["manifest"]["dim"]) == (2, 384)
    code, again, _ = run(capsys, "ingest", str(src), "--json")
    assert sorted(again["unchanged"]) == sorted(first["added"])
