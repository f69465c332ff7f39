"""TL;DR gating with a scripted FakeLLM, the crash-safe journal, and safe exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from assistant import grounding
from assistant.config import TldrConfig
from assistant.errors import UsageError
from assistant.grounding.compression import compression_issue
from assistant.journal import TldrJournal, export, render_export
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM
from assistant.tldr import (
    clean_candidate,
    continue_opener,
    drop_invented_asides,
    judge_source,
    paper_name,
    write_tldr,
)
from assistant.types import Paper, Tldr

SAMPLE = Path(__file__).resolve().parents[1] / "assistant" / "data" / "hf_daily_sample.txt"


@pytest.fixture(scope="module")
def cappy() -> Paper:
    return parse_file(SAMPLE).papers[0]


def _cfg(**kw: object) -> TldrConfig:
    return TldrConfig(provenance={"model_sha256": "x"}, **kw)  # type: ignore[arg-type]


FAITHFUL = (
    "Cappy is a pretrained small scorer designed to enhance the performance of multi-task LLMs."
)


def test_faithful_candidate_is_generated(cappy: Paper) -> None:
    llm = FakeLLM().enqueue(FAITHFUL)
    rec = write_tldr(cappy, llm=llm, embedder=FakeEmbedder(), config=_cfg())
    assert rec.method == "generated"
    assert rec.tldr == FAITHFUL
    assert rec.words == 14 and rec.support >= 0.6
    assert rec.provenance["content_hash"] == cappy.content_hash
    assert len(llm.calls) == 1


def test_the_model_continues_the_reply_opener(cappy: Paper) -> None:
    llm = FakeLLM().enqueue(FAITHFUL.removeprefix("Cappy is"))
    rec = write_tldr(cappy, llm=llm, embedder=FakeEmbedder(), config=_cfg())
    assert rec.method == "generated"
    assert rec.tldr == FAITHFUL
    assert llm.calls[0][-1] == {"role": "assistant", "content": "Cappy is"}
    assert paper_name("Cappy: Outperforming and Boosting") == "Cappy"
    assert paper_name("A Survey: Two Words") == "" and paper_name("No colon here") == ""


def test_continue_opener_joins_only_continuations() -> None:
    assert continue_opener("This paper", " proposes X.") == "This paper proposes X."
    assert continue_opener("This paper", ", in short, X.") == "This paper, in short, X."
    assert continue_opener("This paper", "This paper proposes X.") == "This paper proposes X."
    assert continue_opener("This paper", "Cappy is X.") == "Cappy is X."  # started afresh
    assert continue_opener("", " x") == " x"


def test_hallucinated_number_falls_back_to_extractive(cappy: Paper) -> None:
    llm = FakeLLM().enqueue(*["Cappy has 700 million parameters and beats GPT-4."] * 3)
    rec = write_tldr(cappy, llm=llm, config=_cfg())
    assert rec.method == "extractive"
    assert "700" not in rec.tldr
    assert grounding.extract_numbers(rec.tldr) <= grounding.extract_numbers(cappy.abstract)
    assert rec.words <= 30 and len(grounding.split_sentences(rec.tldr)) == 1
    assert len(llm.calls) == 3  # every retry was tried before falling back


def test_a_supported_tldr_that_compresses_no_one_sentence_falls_back(cappy: Paper) -> None:
    """Every word is in the abstract, spread over two sentences: not a compression of one."""
    composed = "Cappy is a small scorer with 360 million parameters that boosts LLMs."
    llm = FakeLLM().enqueue(*[composed] * 3)
    rec = write_tldr(cappy, llm=llm, embedder=FakeEmbedder(), config=_cfg())
    assert rec.method == "extractive" and len(llm.calls) == 3
    assert grounding.score_support(composed, [judge_source(cappy)]).supported  # the judge alone
    assert compression_issue(composed, cappy.title, cappy.abstract)


def test_title_repetition_is_rejected(cappy: Paper) -> None:
    llm = FakeLLM().enqueue(*[cappy.title] * 3)
    rec = write_tldr(cappy, llm=llm, config=_cfg())
    assert rec.method == "extractive"
    assert rec.tldr.rstrip(".") != cappy.title


def test_retry_can_succeed_after_bad_first_candidate(cappy: Paper) -> None:
    llm = FakeLLM().enqueue(
        "Paris is the capital of France.",
        "Cappy is a pretrained small scorer that boosts multi-task LLMs.",
    )
    rec = write_tldr(cappy, llm=llm, config=_cfg())
    assert rec.method == "generated" and "Paris" not in rec.tldr
    temps = [kw["temperature"] for kw in llm.call_kwargs]
    assert temps == [0.0, 0.7]  # a retry samples differently


def test_invented_acronym_aside_is_dropped_instead_of_a_retry(cappy: Paper) -> None:
    llm = FakeLLM().enqueue(
        " a pretrained small scorer (PSS) designed to enhance the performance of multi-task"
        " large language models (LLMs)."
    )
    rec = write_tldr(cappy, llm=llm, embedder=FakeEmbedder(), config=_cfg())
    assert rec.method == "generated" and len(llm.calls) == 1
    # the invented acronym goes; an aside the abstract contains stays
    assert rec.tldr == (
        "Cappy is a pretrained small scorer designed to enhance the performance of multi-task"
        " large language models (LLMs)."
    )
    assert drop_invented_asides("A (XQZ) c (Wvu) (LLMs)", cappy) == "A c (LLMs)"
    assert drop_invented_asides("a (sca) b", cappy) == "a b"  # "scorer" does not support "sca"


def test_dropping_an_aside_never_passes_an_unsupported_rest(cappy: Paper) -> None:
    """The repaired sentence is judged again: an invented number outside the aside still fails."""
    llm = FakeLLM().enqueue(*[" a scorer (PSS) with 700 million parameters."] * 3)
    rec = write_tldr(cappy, llm=llm, embedder=FakeEmbedder(), config=_cfg())
    assert rec.method == "extractive" and "700" not in rec.tldr and len(llm.calls) == 3


def test_too_long_candidate_is_rejected(cappy: Paper) -> None:
    long = "Cappy " + "boosts multi-task LLMs " * 12 + "."
    llm = FakeLLM().enqueue(*[long] * 3)
    rec = write_tldr(cappy, llm=llm, config=_cfg())
    assert rec.method == "extractive" and rec.words <= 30


def test_clean_candidate_strips_lead_title_and_markup(cappy: Paper) -> None:
    raw = f"TL;DR: {cappy.title}: Cappy boosts LLMs. ![x](http://evil.invalid/a) More text."
    out = clean_candidate(raw, cappy.title)
    assert out == "Cappy boosts LLMs."


def test_one_abstract_per_prompt(cappy: Paper) -> None:
    llm = FakeLLM().enqueue("Cappy is a pretrained small scorer that boosts multi-task LLMs.")
    write_tldr(cappy, llm=llm, config=_cfg())
    prompt = " ".join(m["content"] for m in llm.calls[0])
    assert cappy.abstract[:80] in prompt
    assert "Heuristic Vision" not in prompt


def _rec(pid: str, text: str = "A sentence.") -> Tldr:
    return Tldr(
        paper_id=pid,
        title=f"T {pid}",
        tldr=text,
        method="generated",
        support=1.0,
        words=2,
        provenance={"content_hash": "h"},
    )


def test_journal_repairs_torn_line_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "tldrs.jsonl"
    good = [_rec("a"), _rec("b")]
    path.write_text(
        "".join(r.model_dump_json() + "\n" for r in good)
        + _rec("a", "newer").model_dump_json()
        + "\n"
        + '{"paper_id": "c", "tl'
    )
    journal = TldrJournal(path)
    assert set(journal.records) == {"a", "b"}
    assert journal.records["a"].tldr == "newer"
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_journal_append_and_resume(tmp_path: Path, cappy: Paper) -> None:
    path = tmp_path / "tldrs.jsonl"
    j = TldrJournal(path)
    rec = _rec(cappy.paper_id).model_copy(
        update={"provenance": {"content_hash": cappy.content_hash, "model_sha256": "m"}}
    )
    j.append(rec)
    again = TldrJournal(path)
    assert again.is_current(cappy, {"model_sha256": "m"})
    assert not again.is_current(cappy, {"model_sha256": "other"})
    edited = cappy.model_copy(update={"content_hash": "changed"})
    assert not again.is_current(edited, {"model_sha256": "m"})


NASTY = 'He said "hi", then\nleft | <script>alert(1)</script> \u2028 end\x00'


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "md"])
def test_exports_survive_nasty_text(tmp_path: Path, fmt: str) -> None:
    recs = [_rec("a", NASTY), _rec("b", "plain")]
    out = tmp_path / f"out.{fmt}"
    export(recs, out, fmt)
    text = out.read_text("utf-8")
    if fmt == "jsonl":
        lines = text.split("\n")
        assert lines[-1] == "" and len(lines) == 3
        assert [json.loads(x)["tldr"] for x in lines[:-1]] == [NASTY, "plain"]
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[1][2] == NASTY and rows[2][2] == "plain"
    else:
        assert "<script>" not in text and "&lt;script&gt;" in text
        assert len(text.strip().splitlines()) == 4  # header, rule, two rows


def test_export_rejects_unknown_format() -> None:
    with pytest.raises(UsageError, match="unknown export format"):
        render_export([], "xml")


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.batches.append(list(texts))
        return super().embed(texts)


def test_batch_embeds_each_judge_sentence_at_most_once_and_not_all(
    tmp_path: Path, mem_store: object
) -> None:
    from assistant.config import Settings
    from assistant.service import Assistant
    from assistant.tldr import clean_paper, judge_source

    papers = parse_file(SAMPLE).papers[:10]
    answers = [" a method that improves results.", " a small scorer with 360 million parameters."]
    emb = CountingEmbedder()
    llm = FakeLLM(responder=lambda m: answers[len(m[-1]["content"]) % 2])
    with Assistant(Settings(data_dir=tmp_path), llm=llm, embedder=emb, store=mem_store) as a:  # type: ignore[arg-type]
        records = a.tldrs(papers, persist=False)
    assert len(records) == 10 and llm.calls
    embedded = [t for batch in emb.batches for t in batch]
    assert len(embedded) == len(set(embedded))  # the process memo: nothing embedded twice
    sentences = {t for p in papers for t in grounding.split_sentences(judge_source(clean_paper(p)))}
    used = sentences & set(embedded)
    assert used and len(used) < len(sentences)  # only what the judge's bound kept
