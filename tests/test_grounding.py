"""Tests for assistant.grounding.judge (and the assistant.grounding.textnorm helpers behind it).

Every fixture is a real abstract from assistant/data/hf_daily_sample.txt, parsed here with a
tiny local reader so these tests do not depend on the ingestion code.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from assistant.grounding.extractive import best_quote, compress_sentence, pick_extractive_tldr
from assistant.grounding.judge import (
    CachingEmbedder,
    SentenceVerdict,
    Support,
    check_sentences,
    content_words,
    extract_entities,
    extract_numbers,
    has_external_url,
    score_support,
    split_sentences,
    strip_unsafe,
)
from assistant.testing import FakeEmbedder

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "assistant" / "data" / "hf_daily_sample.txt"
JUDGE_SET = ROOT / "evals" / "fixtures" / "judge_labelled.jsonl"


@cache
def corpus() -> dict[str, str]:
    """title -> abstract, in file order (title line, blank, abstract, "• N authors")."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    papers: dict[str, str] = {}
    for i, line in enumerate(lines):
        if re.fullmatch(r"\s*•\s*\d+\s+authors?\s*", line):
            j = i - 1
            while not lines[j].strip():
                j -= 1
            k = j - 1
            while not lines[k].strip():
                k -= 1
            papers[lines[k].strip()] = lines[j].strip()
    return papers


def abstract(title_prefix: str) -> str:
    [text] = [a for t, a in corpus().items() if t.startswith(title_prefix)]
    return text


def source(title_prefix: str) -> str:
    """Title + abstract, the way answers and TL;DRs are checked."""
    [(title, text)] = [(t, a) for t, a in corpus().items() if t.startswith(title_prefix)]
    return title + "\n\n" + text


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(w in it for w in small)


CAPPY = "Cappy: Outperforming"
VISION = "Heuristic Vision Pre-Training"
SHAPEFILE = "ShapefileGPT"
GUIDE = "GUIDE: A Guideline"
VISUAL_BUG = "Weak Supervision for Label"
DISTILL = "Distilling Step-by-Step"


def test_corpus_has_54_abstracts() -> None:
    papers = corpus()
    assert len(papers) == 54
    assert all(len(a.split()) > 100 for a in papers.values())


# --- split_sentences -----------------------------------------------------------------------


def test_split_sentences_keeps_eg_and_decimals_together() -> None:
    text = abstract(VISION)
    sentences = split_sentences(text)
    assert len(sentences) == 11
    assert sentences[6] == (
        "On the one hand, under the multi-label supervision, the pre-trained model can explore "
        "the detailed information of an image, e.g., image types, objects, and part of semantic "
        "relations."
    )
    assert sentences[9].startswith(
        "For example, with a vanilla Swin-B backbone, we achieve 85.3\\%"
    )
    assert sentences[9].endswith("ADE-20K semantic segmentation when using Upernet.")


def test_split_sentences_abbreviations_urls_quotes_and_lines() -> None:
    text = (
        "Smith et al. (2020) showed gains vs. baselines, e.g. on ImageNet. We use v1.2 of the "
        "U.S. data, see Fig. 3 for details. Code: https://github.com/a/b.c is public! Does it "
        'work? Yes.\nA heading without period\n"Quoted" start. (Bracket) start. 2024 was a year.'
    )
    assert split_sentences(text) == [
        "Smith et al. (2020) showed gains vs. baselines, e.g. on ImageNet.",
        "We use v1.2 of the U.S. data, see Fig. 3 for details.",
        "Code: https://github.com/a/b.c is public!",
        "Does it work?",
        "Yes.",
        "A heading without period",
        '"Quoted" start.',
        "(Bracket) start.",
        "2024 was a year.",
    ]


def test_split_sentences_does_not_split_lowercase_continuation_or_soft_wraps() -> None:
    assert split_sentences("Accuracy rose to 85.3 vs. 80.1 i.e. a gain. next it fell.") == [
        "Accuracy rose to 85.3 vs. 80.1 i.e. a gain. next it fell."
    ]
    wrapped = "This sentence wraps\nonto a second line. Then another."
    assert split_sentences(wrapped) == ["This sentence wraps\nonto a second line.", "Then another."]


def test_split_sentences_keeps_trailing_citation_with_its_sentence() -> None:
    assert split_sentences("Cappy is small. [1] It works [2]. Done [1][2].") == [
        "Cappy is small. [1]",
        "It works [2].",
        "Done [1][2].",
    ]


def test_split_sentences_are_verbatim_and_in_order_for_whole_corpus() -> None:
    for text in corpus().values():
        sentences = split_sentences(text)
        assert sentences, text[:40]
        position = 0
        for sentence in sentences:
            assert sentence == sentence.strip() and sentence
            found = text.find(sentence, position)
            assert found >= position, sentence
            position = found + len(sentence)
        # nothing but whitespace is lost between sentences
        assert "".join(text.split()) == "".join("".join(sentences).split())


def test_split_sentences_of_url_ending_abstract() -> None:
    sentences = split_sentences(abstract(DISTILL))
    assert sentences[-1] == (
        "We release the code at: https://github.com/google-research/distilling-step-by-step ."
    )
    assert split_sentences("") == []
    assert split_sentences("  \n ") == []


# --- extract_numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("With merely 360 million parameters", {"360", "360M", "360000000"}),
        ("(0.336 rightarrow 0.550 F1 score)", {"0.336", "0.55"}),
        ("does not improve with 20x parameter scaling", {"20", "20x"}),
        ("with a smaller size (7-8B).", {"7", "8", "8B", "8000000000"}),
        (
            "3.5K videos of 560 instructional tasks in 8 domains",
            {"3.5", "3.5K", "3500", "560", "8"},
        ),
        ("we achieve 85.3\\% top-1 accuracy on ImageNet-1K", {"85.3", "85.3%"}),
        ("2,000 examples and 80% of the data", {"2000", "2K", "80", "80%"}),
        ("using 80 percent", {"80", "80%"}),
        ("1K to 8K tokens", {"1", "1K", "1000", "8", "8K", "8000"}),
        ("ten popular zero-shot LLMs", {"10"}),
        ("less than 1/4 turns on 30+ tasks, ~3% better", {"1/4", "30", "3", "3%"}),
        ("(Zhou et al., 2024)", {"2024"}),
        ("Cappy is small [1, 2][3].", set()),
        ("GPT-4o, FLAN-T5, ImageNet-1K, A100, Llama2-70B, mT5, top-1", set()),
        ("(1) Step Captioning: 1) one, 2) two", {"2"}),
        ("see https://github.com/x/y-2024", set()),
    ],
)
def test_extract_numbers(text: str, expected: set[str]) -> None:
    assert extract_numbers(text) == expected


def test_extract_numbers_from_real_abstracts() -> None:
    assert extract_numbers(abstract(VISUAL_BUG)) >= {"0.336", "0.55", "5", "0"}
    assert "3.5K" in extract_numbers(abstract(GUIDE))
    assert {"770M", "540B", "80%", "100%"} <= extract_numbers(abstract(DISTILL))


# --- extract_entities / content_words -------------------------------------------------------


def test_extract_entities_from_cappy_abstract() -> None:
    entities = extract_entities(abstract(CAPPY))
    assert entities == {
        "BIG-Bench",
        "Cappy",
        "FLAN",
        "FLAN-PaLM-540B",
        "FLAN-T5",
        "LLM",
        "OPT-IML",
        "OPT-IML-175B",
        "PromptSource",
        "T0",
    }


def test_extract_entities_multiword_acronyms_and_stopwords() -> None:
    entities = extract_entities(abstract(VISION))
    assert {"Masked Image Modeling", "MIM", "SOTA", "COCO", "ImageNet-1K", "Swin-B"} <= entities
    assert extract_entities("Paris is the capital of France.") == {"France"}
    assert extract_entities("However, we show that LLMs help. The MULTI-TAP uses GPT-4o.") == {
        "LLM",
        "MULTI-TAP",
        "GPT-4o",
    }
    assert extract_entities("We use 770M parameters and 7-8B models.") == set()


def test_content_words_stem_and_drop_stopwords() -> None:
    assert content_words("The models were improving the performance of LLMs on 2,000 tasks.") == {
        "model",
        "improv",
        "perform",
        "llm",
        "2000",
        "task",
    }
    assert content_words("improves improved improvement") == {"improv"}
    assert content_words("It is what it is, and so on [1].") == set()


# --- score_support ------------------------------------------------------------------------


def test_verbatim_sentence_is_fully_supported() -> None:
    source = abstract(CAPPY)
    sentence = split_sentences(source)[5]
    support = score_support(sentence, [abstract(VISION), source])
    assert isinstance(support, Support)
    assert support.supported
    assert support.score == 1.0
    assert support.best_sentence == sentence
    assert support.best_source == 1
    assert support.reason == ""


def test_correct_paraphrase_is_supported() -> None:
    claim = "Cappy is a small pretrained scorer with 360M parameters that boosts multi-task LLMs."
    support = score_support(claim, [abstract(CAPPY)])
    assert support.supported, support
    assert support.score >= 0.6
    assert support.missing_numbers == [] and support.missing_entities == []
    assert "360 million parameters" in support.best_sentence


def test_changed_number_is_not_supported() -> None:
    support = score_support("Cappy has 560 million parameters.", [abstract(CAPPY)])
    assert not support.supported
    assert support.missing_numbers == ["560M"]
    assert support.reason == "number 560M not in source"
    assert support.score <= 0.2


def test_rounded_number_is_supported_but_wrong_rounding_is_not() -> None:
    source = [abstract(SHAPEFILE)]
    assert score_support(
        "ShapefileGPT achieved a task success rate of about 95%.", source
    ).supported
    wrong = score_support("ShapefileGPT achieved a task success rate of 96%.", source)
    assert wrong.missing_numbers == ["96%"]
    assert not wrong.supported


def test_swapped_entity_is_not_supported() -> None:
    claim = "Cappy boosts the performance of GPT-4 on 45 complex tasks from BIG-Bench."
    support = score_support(claim, [abstract(CAPPY)])
    assert not support.supported
    assert support.missing_entities == ["GPT-4"]
    assert support.reason == "entity GPT-4 not in source"


def test_entity_moved_from_another_sentence_is_not_supported() -> None:
    claim = "On 11 language understanding tasks from BIG-Bench, Cappy outperforms much larger LLMs."
    support = score_support(claim, [abstract(CAPPY)])
    assert not support.supported
    assert support.reason == "BIG-Bench replaces PromptSource"


def test_world_knowledge_is_not_supported() -> None:
    for title in (CAPPY, VISION, SHAPEFILE):
        support = score_support("Paris is the capital of France.", [abstract(title)])
        assert not support.supported
        assert support.score < 0.3
        assert support.missing_entities == ["France"]


def test_added_claim_is_not_supported() -> None:
    support = score_support("Cappy was trained on 8 TPUs.", [abstract(CAPPY)])
    assert not support.supported
    assert support.missing_numbers == ["8"]
    assert support.missing_entities == ["TPU"]
    no_number = score_support("Cappy was trained on TPUs.", [abstract(CAPPY)])
    assert no_number.reason == "entity TPU not in source"


def test_too_short_claim_is_not_supported() -> None:
    support = score_support("Yes.", [abstract(CAPPY)])
    assert not support.supported
    assert support.reason == "too few content words"


def test_flipped_negation_and_invented_comparison_are_not_supported() -> None:
    flipped = score_support("Cappy requires LLM finetuning.", [abstract(CAPPY)])
    assert not flipped.supported
    assert flipped.reason.startswith("source negates")
    kept = score_support(
        "Cappy integrates downstream supervision without requiring LLM finetuning.",
        [abstract(CAPPY)],
    )
    assert kept.supported, kept
    slower = score_support("Cappy is slower than LLMs.", [abstract(CAPPY)])
    assert slower.reason == "comparison 'slower' not in source"


def test_external_url_in_claim_is_not_supported() -> None:
    claim = "The Cappy scorer code for BIG-Bench is at https://evil.example.com/x."
    support = score_support(claim, [abstract(CAPPY)])
    assert not support.supported
    assert support.reason == "url https://evil.example.com/x not in source"


def test_numbers_may_come_from_any_source_and_best_source_is_reported() -> None:
    sources = [abstract(VISION), abstract(GUIDE)]
    support = score_support("GUIDE contains 3.5K videos of 560 instructional tasks.", sources)
    assert support.supported
    assert support.best_source == 1
    assert support.best_sentence in sources[1]


def test_embedder_similarity_is_reported_and_deterministic() -> None:
    embedder = FakeEmbedder()
    source = [abstract(CAPPY)]
    claim = "Cappy is a pretrained small scorer that enhances multi-task LLMs."
    first = score_support(claim, source, embedder=embedder)
    second = score_support(claim, source, embedder=FakeEmbedder())
    assert first == second
    assert first.similarity is not None and -1.0 <= first.similarity <= 1.0
    assert first.supported
    assert not score_support("Paris is the capital of France.", source, embedder=embedder).supported
    # per claim: the claim with its lexically best sentence, the rows that can still win, the
    # rest of the evidence (the last two only when needed)
    assert 2 <= len(embedder.calls) <= 6


def test_caching_embedder_embeds_each_text_once_with_identical_results() -> None:
    inner = FakeEmbedder()
    cached = CachingEmbedder(inner)
    sources = {1: abstract(CAPPY), 2: abstract(GUIDE)}
    answer = "Cappy has 360 million parameters [1]. GUIDE contains 3.5K videos [2]."
    plain = check_sentences(answer, sources, embedder=FakeEmbedder())
    for sentence in split_sentences(answer):  # the answerer checks sentence by sentence
        check_sentences(sentence, sources, embedder=cached)
    assert check_sentences(answer, sources, embedder=cached) == plain
    embedded = [t for call in inner.calls for t in call]
    assert len(embedded) == len(set(embedded))
    n_source_sentences = len(split_sentences(sources[1])) + len(split_sentences(sources[2]))
    # each cleaned answer sentence once, and only the source sentences the judge needed
    assert 2 < len(embedded) <= n_source_sentences + 2
    assert {"Cappy has 360 million parameters.", "GUIDE contains 3.5K videos."} <= set(embedded)
    assert cached.embed([]).shape == (0, inner.dim)


def test_threshold_parameter_is_respected() -> None:
    claim = "Cappy is a pretrained scorer that helps multi-task LLMs."
    support = score_support(claim, [abstract(CAPPY)])
    strict = score_support(claim, [abstract(CAPPY)], threshold=0.99)
    assert support.score == strict.score
    assert not strict.supported
    assert strict.reason.startswith("low overlap with source")


def test_empty_inputs() -> None:
    assert score_support("", [abstract(CAPPY)]).reason == "empty sentence"
    assert score_support("Cappy is small.", []).reason == "no source text"


# --- check_sentences ------------------------------------------------------------------------


def test_check_sentences_reads_markers_and_flags_unknown_sources() -> None:
    sources = {1: abstract(CAPPY), 2: abstract(VISION)}
    answer = (
        "Cappy has 360 million parameters [1]. "
        "It boosts FLAN-T5 on 45 complex tasks from BIG-Bench [1, 2]. "
        "Paris is the capital of France. "
        "Cappy reaches 85.3% top-1 accuracy on ImageNet-1K [1]. "
        "Cappy is tiny [3]."
    )
    verdicts = check_sentences(answer, sources)
    assert all(isinstance(v, SentenceVerdict) for v in verdicts)
    assert [v.cites for v in verdicts] == [[1], [1, 2], [], [1], [3]]
    assert [v.supported for v in verdicts] == [True, True, False, False, False]
    assert [v.cited_all for v in verdicts] == [False, False, True, False, False]
    assert verdicts[0].clean == "Cappy has 360 million parameters."
    assert verdicts[0].text == "Cappy has 360 million parameters [1]."
    assert verdicts[1].best_source_id == 1
    assert verdicts[2].support.missing_entities == ["France"]
    assert verdicts[3].support.missing_numbers == ["85.3%"]  # true of [2], not of the cited [1]
    assert verdicts[4].support.reason == "cites unknown source [3]"
    assert verdicts[4].best_source_id is None


def test_check_sentences_marker_forms_and_markdown() -> None:
    sources = {4: abstract(GUIDE), 7: abstract(SHAPEFILE)}
    answer = (
        "- **GUIDE** contains 3.5K videos of 560 instructional tasks. [4]\n"
        "- ShapefileGPT reached a task success rate of 95.24% [7][4]."
    )
    verdicts = check_sentences(answer, sources, embedder=FakeEmbedder())
    assert [v.cites for v in verdicts] == [[4], [7, 4]]
    assert [v.supported for v in verdicts] == [True, True]
    assert verdicts[0].clean == "GUIDE contains 3.5K videos of 560 instructional tasks."
    assert verdicts[1].best_source_id == 7
    assert verdicts[1].support.best_source == 1  # index into list(sources)
    assert verdicts[0].support.similarity is not None


def test_check_sentences_uncited_sentence_is_checked_against_all_sources() -> None:
    sources = {1: abstract(CAPPY), 2: abstract(GUIDE)}
    [verdict] = check_sentences("GUIDE contains 3.5K videos of 560 instructional tasks.", sources)
    assert verdict.cited_all and verdict.supported
    assert verdict.best_source_id == 2
    assert check_sentences("", sources) == []


def test_check_sentences_numbered_lists_and_citing_phrases() -> None:
    sources = {1: source(CAPPY), 2: source(GUIDE)}
    answer = (
        "According to [1], Cappy is a pretrained small scorer with 360 million parameters.\n"
        "1. Cappy boosts FLAN-T5 on BIG-Bench [1]\n"
        "2. GUIDE has three sub-tasks [2]."
    )
    verdicts = check_sentences(answer, sources)
    assert [v.clean for v in verdicts] == [
        "Cappy is a pretrained small scorer with 360 million parameters.",
        "Cappy boosts FLAN-T5 on BIG-Bench",
        "GUIDE has three sub-tasks.",
    ]
    assert [v.cites for v in verdicts] == [[1], [1], [2]]
    assert all(v.supported for v in verdicts)


# --- the labelled judge set (written alongside the evals) ----------------------------------------


def test_judge_on_labelled_set_flags_bad_and_passes_good() -> None:
    if not JUDGE_SET.exists():
        pytest.skip("evals/fixtures/judge_labelled.jsonl not present")
    rows = [json.loads(line) for line in JUDGE_SET.read_text().splitlines() if line.strip()]
    papers = corpus()
    verdicts = [
        (
            row["label"],
            score_support(
                row["sentence"], [row["title"] + "\n\n" + papers[row["title"]]]
            ).supported,
        )
        for row in rows
    ]
    bad = [ok for label, ok in verdicts if label == "bad"]
    good = [ok for label, ok in verdicts if label == "good"]
    assert bad and good
    assert sum(not ok for ok in bad) / len(bad) >= 0.9
    # the structure checks refuse some multi-sentence compressions (measured 0.85; docs)
    assert sum(good) / len(good) >= 0.8


# --- best_quote -----------------------------------------------------------------------------


def test_best_quote_returns_verbatim_sentence_with_the_asked_number() -> None:
    source = abstract(VISION)
    quote = best_quote("Which model gets 85.3% top-1 accuracy on ImageNet?", source)
    assert quote in source
    assert quote in split_sentences(source)
    assert "85.3\\%" in quote
    cappy = abstract(CAPPY)
    assert best_quote("Does Cappy have 360 million parameters?", cappy) == split_sentences(cappy)[5]


def test_best_quote_respects_max_words_and_stays_verbatim() -> None:
    source = abstract(VISUAL_BUG)
    quote = best_quote("F1 score from 0.336 to 0.550", source, max_words=10)
    assert quote in source
    assert len(quote.split()) <= 10
    assert "0.336" in quote and "0.550" in quote
    assert best_quote("anything", "") == ""


# --- compress_sentence / pick_extractive_tldr ------------------------------------------------


def test_compress_sentence_drops_openers_and_keeps_short_sentences() -> None:
    sentence = (
        "To address these challenges, we introduce a pretrained small scorer, Cappy, designed "
        "to enhance the performance and efficiency of multi-task LLMs."
    )
    assert compress_sentence(sentence, 30) == (
        "We introduce a pretrained small scorer, Cappy, designed to enhance the performance and "
        "efficiency of multi-task LLMs."
    )
    vision = split_sentences(abstract(VISION))[9]
    assert compress_sentence(vision, 8) == "We achieve 85.3\\% top-1 accuracy."
    # a number is never left without its scale word ("360" for "360 million")
    short = compress_sentence("The scorer Cappy has merely 360 million parameters in total.", 6)
    assert short == "The scorer Cappy has merely."


def test_compress_sentence_never_exceeds_budget_and_only_drops_words() -> None:
    for text in corpus().values():
        for sentence in split_sentences(text):
            for budget in (8, 15, 30):
                short = compress_sentence(sentence, budget)
                assert 1 <= len(short.split()) <= budget, (sentence, short)
                assert short.endswith((".", "!", "?"))
                assert is_subsequence(words(short), words(sentence)), (sentence, short)


def test_pick_extractive_tldr_for_cappy() -> None:
    title = next(t for t in corpus() if t.startswith(CAPPY))
    assert pick_extractive_tldr(title, abstract(CAPPY), 30) == (
        "We introduce a pretrained small scorer, Cappy, designed to enhance the performance and "
        "efficiency of multi-task LLMs."
    )


def test_pick_extractive_tldr_is_short_grounded_and_verbatim_for_every_abstract() -> None:
    for title, text in corpus().items():
        tldr = pick_extractive_tldr(title, text, 30)
        assert 5 <= len(tldr.split()) <= 30, (title, tldr)
        assert extract_numbers(tldr) <= extract_numbers(text), (title, tldr)
        assert any(is_subsequence(words(tldr), words(s)) for s in split_sentences(text))
        assert score_support(tldr, [text]).supported, (title, tldr)


# --- URLs and unsafe markup ---------------------------------------------------------------------


def test_has_external_url() -> None:
    source = abstract(DISTILL)
    assert not has_external_url(
        "Code: https://github.com/google-research/distilling-step-by-step", [source]
    )
    assert has_external_url("See https://evil.example.com/steal?x=1 now.", [source])
    assert has_external_url("Visit evil-site.com for more.")
    assert not has_external_url("Accuracy is 85.3%, e.g. on ImageNet-1K.")


def test_strip_unsafe_removes_images_html_and_unknown_urls() -> None:
    source = abstract(DISTILL)
    text = (
        "Answer ![pixel](http://evil.example/a.png) with <b>bold</b> text<script>alert(1)</script>."
        " See [the code](https://github.com/google-research/distilling-step-by-step) or "
        "https://github.com/google-research/distilling-step-by-step and https://evil.example.com/x"
        " [1].\nSecond line."
    )
    assert strip_unsafe(text, [source]) == (
        "Answer with bold text. See the code or "
        "https://github.com/google-research/distilling-step-by-step and [1].\nSecond line."
    )
    assert strip_unsafe("Plain answer [2].") == "Plain answer [2]."
