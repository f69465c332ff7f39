"""Input parsers: the HF sample, each format's happy path, and every bad-input case."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from assistant.errors import InputError, UsageError
from assistant.sources import FORMATS, detect_format, parse_file, parse_text
from assistant.sources._common import arxiv_id_from, parse_date, split_authors
from assistant.types import ParseResult, Rejection, make_paper_id

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assistant" / "data" / "hf_daily_sample.txt"
DATA = Path(__file__).resolve().parent / "data"


def reasons(result: ParseResult) -> list[tuple[int | None, str]]:
    return [(r.record, r.reason) for r in result.rejected]


# --------------------------------------------------------------------------- hf_daily sample


@pytest.fixture(scope="module")
def hf() -> ParseResult:
    return parse_file(SAMPLE)


def test_hf_sample_yields_exactly_54_papers(hf: ParseResult) -> None:
    assert hf.format == "hf_daily"
    assert len(hf.papers) == 54
    assert hf.rejected == []
    assert len({p.paper_id for p in hf.papers}) == 54


def test_hf_sample_first_paper(hf: ParseResult) -> None:
    p = hf.papers[0]
    assert p.title == ("Cappy: Outperforming and Boosting Large Multi-Task LMs with a Small Scorer")
    assert p.abstract.startswith(
        "Large language models (LLMs) such as T0, FLAN, and OPT-IML, excel in multi-tasking"
    )
    assert p.abstract.endswith(
        "including finetuning and in-context learning, offering additional performance enhancement."
    )
    assert len(p.abstract) == 1792
    assert p.n_authors == 6
    assert p.authors == []
    assert p.published == date(2023, 11, 11)
    assert p.source == "hf_daily"
    assert p.paper_id == make_paper_id(p.title)


def test_hf_sample_last_paper(hf: ParseResult) -> None:
    p = hf.papers[-1]
    assert p.title == (
        "On The Role of Pretrained Language Models in General-Purpose Text Embeddings: A Survey"
    )
    assert p.abstract.startswith(
        "Text embeddings have attracted growing interest due to their effectiveness"
    )
    assert p.abstract.endswith(
        "seeking to understand the current state and future potential of GPTE."
    )
    assert p.n_authors == 6
    # "Jul 28" has no year: the listing's most recent explicit year (2024) is used.
    assert p.published == date(2024, 7, 28)


def test_hf_sample_date_variants(hf: ParseResult) -> None:
    by_title = {p.title: p for p in hf.papers}
    # "Aug 7" (no year), "May 26 1" (no year + upvotes), "Jul 31, 2023 2" (year + upvotes)
    assert by_title[
        "Uni-cot: Towards Unified Chain-of-Thought Reasoning Across Text and Vision"
    ].published == date(2024, 8, 7)
    coverage = "The Coverage Principle: A Framework for Understanding Compositional Generalization"
    assert by_title[coverage].published == date(2024, 5, 26)
    assert by_title[coverage].n_authors == 10
    univtg = "UniVTG: Towards Unified Video-Language Temporal Grounding"
    assert by_title[univtg].published == date(2023, 7, 31)
    crosslingual = "Crosslingual Generalization through Multitask Finetuning"
    assert by_title[crosslingual].n_authors == 19
    assert sum(1 for p in hf.papers if p.n_authors == 1) == 2


def test_hf_sample_abstracts_are_clean(hf: ParseResult) -> None:
    for p in hf.papers:
        assert p.abstract.strip()
        assert "\n" not in p.abstract
        assert not re.search(r"[•·-]\s*\d+\s+authors", p.abstract)
        assert p.title not in {"new", "Subscribe", "Daily Papers", "Oct 22"}
        assert p.published is not None


def test_hf_year_argument_overrides_listing_year() -> None:
    r = parse_file(SAMPLE, year=2025)
    assert r.papers[-1].published == date(2025, 7, 28)
    assert r.papers[0].published == date(2023, 11, 11)  # explicit years are kept


HF_SMALL = """new

Daily Papers

Oct 22

First Paper Title

First abstract, line one
continues on line two.

  · 1 authors
·
Aug 7

Second Paper Title

  - 3 authors
·
Mar 3, 2021

Third Paper Title

Third abstract.

  • 2 authors
·
Oct 1, 2024 12
"""


def test_hf_variants_multiline_abstract_bullets_and_empty_abstract() -> None:
    r = parse_text(HF_SMALL, "small.txt", "hf_daily")
    assert [(p.title, p.abstract, p.n_authors, p.published) for p in r.papers] == [
        (
            "First Paper Title",
            "First abstract, line one continues on line two.",
            1,
            date(2024, 8, 7),
        ),
        ("Third Paper Title", "Third abstract.", 2, date(2024, 10, 1)),
    ]
    assert r.rejected == [Rejection(file="small.txt", record=16, reason="empty abstract")]


def test_hf_missing_authors_line_rejects_that_paper_and_resumes() -> None:
    text = HF_SMALL.replace("  · 1 authors\n", "")
    r = parse_text(text, "broken.txt", "hf_daily")
    assert [p.title for p in r.papers] == ["Third Paper Title"]
    assert reasons(r) == [
        (7, "paper has no '• N authors' line"),
        (15, "empty abstract"),
    ]


def test_hf_trailing_incomplete_paper_and_no_year_anywhere() -> None:
    text = "A Title\n\nAn abstract.\n\n  • 2 authors\n·\nJun 9\n\nDangling\n\nno authors line\n"
    r = parse_text(text, "t.txt", "hf_daily")
    assert [(p.title, p.published) for p in r.papers] == [("A Title", None)]
    assert reasons(r) == [(9, "incomplete paper: no '• N authors' line follows it")]
    r = parse_text(text, "t.txt", "hf_daily", year=2022)
    assert r.papers[0].published == date(2022, 6, 9)


# --------------------------------------------------------------------------- happy paths


def test_jsonl_happy_path() -> None:
    r = parse_file(DATA / "sample.jsonl")
    assert r.format == "jsonl" and r.rejected == []
    a, b, c = r.papers
    assert a.paper_id == "2310.01234"
    assert a.title == "Sparse Mixture-of-Experts Scales Retrieval Augmented Generation"
    assert a.authors == ["Ada Lovelace", "Alan Turing"] and a.n_authors == 2
    assert a.published == date(2023, 10, 2)
    assert a.url == "https://arxiv.org/abs/2310.01234v2"
    assert a.source == "jsonl"
    assert b.paper_id == "2309.17421"  # id taken from an arxiv.org URL
    assert b.abstract.startswith("Abstractive summarisers hallucinate.")  # "summary" alias
    assert b.authors == ["Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]
    assert b.published == date(2023, 9, 29)
    assert b.url == "https://arxiv.org/abs/2309.17421"
    assert c.paper_id == make_paper_id("A Survey of Small Language Models")
    assert c.paper_id.startswith("a-survey-of-small-language-models-")
    assert c.published == date(2023, 11, 11) and c.url is None and c.n_authors is None


def test_json_happy_path() -> None:
    r = parse_file(DATA / "sample.json")
    assert r.format == "json" and r.rejected == []
    assert [p.paper_id for p in r.papers] == [
        "cs/0112017",
        "1706.03762",
        make_paper_id("Notes on Local Retrieval"),
    ]
    assert r.papers[1].authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    assert r.papers[1].published == date(2017, 6, 12)
    assert r.papers[2].abstract.startswith("Local retrieval keeps data")
    assert r.papers[2].published is None  # unparseable date: kept, no rejection


def test_csv_happy_path_with_quoted_newline() -> None:
    r = parse_file(DATA / "sample.csv")
    assert r.format == "csv" and r.rejected == []
    assert [p.paper_id for p in r.papers] == [
        "2401.00001",
        make_paper_id("Grounded Answers, Cited"),
        "2403.12345",
    ]
    first, second, third = r.papers
    assert first.authors == ["Marie Curie", "Pierre Curie"]
    assert first.url == "https://arxiv.org/abs/2401.00001"
    assert second.title == "Grounded Answers, Cited"
    assert second.abstract == (
        "Answers must cite their sources.\n"
        "We verify every sentence against the retrieved chunks and drop unsupported ones."
    )
    assert second.url == "https://example.org/grounded"
    assert third.authors == ["Claude Shannon", "John Tukey"]
    assert third.published == date(2024, 3, 20)


def test_arxiv_atom_happy_path() -> None:
    r = parse_file(DATA / "sample_atom.xml")
    assert r.format == "arxiv_atom" and r.rejected == []
    a, b, c = r.papers
    assert a.paper_id == "2310.01234"
    assert a.title == "Dense Retrieval for Scientific Abstracts"
    assert a.abstract == (
        "We present a dense retriever trained on paper abstracts. It outperforms BM25 by 7 "
        "points of nDCG@10 on a new benchmark of 5,000 queries."
    )
    assert a.authors == ["Ada Lovelace", "Charles Babbage"]
    assert a.published == date(2023, 10, 2)
    assert a.url == "http://arxiv.org/abs/2310.01234v1"
    assert b.paper_id == "hep-th/9711200"
    assert b.published == date(1997, 11, 27)
    assert c.title == "QLoRA: Efficient Finetuning of Quantized LLMs"
    assert c.n_authors == 2


# --------------------------------------------------------------------------- bad records


def test_malformed_jsonl_line_is_rejected_good_lines_kept() -> None:
    text = (
        '{"title": "Good One", "abstract": "Fine."}\n'
        '{"title": "Broken" "abstract": "x"}\n'
        "\n"
        "[1, 2]\n"
        '{"title": "Good Two", "abstract": "Also fine."}\n'
        '{"title": "No Abstract"}\n'
        '{"title": "Blank", "abstract": "   "}\n'
        '{"title": 7, "abstract": "x"}\n'
    )
    r = parse_text(text, "in.jsonl", "jsonl")
    assert [p.title for p in r.papers] == ["Good One", "Good Two"]
    assert r.rejected == [
        Rejection(
            file="in.jsonl", record=2, reason="malformed JSON: Expecting ',' delimiter (col 20)"
        ),
        Rejection(file="in.jsonl", record=4, reason="line is not a JSON object (got an array)"),
        Rejection(file="in.jsonl", record=6, reason="missing required field 'abstract'"),
        Rejection(file="in.jsonl", record=7, reason="empty abstract"),
        Rejection(file="in.jsonl", record=8, reason="field 'title' must be a string, got a number"),
    ]


def test_non_utf8_bytes_in_one_jsonl_line(tmp_path: Path) -> None:
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(
        b'{"title": "Kept A", "abstract": "ok"}\n'
        b'{"title": "Bad \xff\xfe bytes", "abstract": "ok"}\n'
        b'{"title": "Kept B", "abstract": "caf\xc3\xa9"}\n'
    )
    r = parse_file(f)
    assert r.format == "jsonl"
    assert [p.title for p in r.papers] == ["Kept A", "Kept B"]
    assert r.papers[1].abstract == "café"
    assert r.rejected == [Rejection(file=str(f), record=2, reason="invalid UTF-8 bytes")]


def test_non_utf8_bytes_in_hf_and_csv_records(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(b"title,abstract\nOne,Fine\nTwo,Bad \x80 byte\nThree,Fine too\n")
    r = parse_file(f)
    assert [p.title for p in r.papers] == ["One", "Three"]
    assert reasons(r) == [(3, "invalid UTF-8 bytes")]
    g = tmp_path / "bad.txt"
    g.write_bytes(
        b"T1\n\nAbs \xe9 one.\n\n  \xe2\x80\xa2 2 authors\n\xc2\xb7\nMay 1, 2020\n\n"
        b"T2\n\nAbs two.\n\n  \xe2\x80\xa2 1 authors\n\xc2\xb7\nMay 2, 2020\n"
    )
    r = parse_file(g)
    assert r.format == "hf_daily"
    assert [p.title for p in r.papers] == ["T2"]
    assert reasons(r) == [(1, "invalid UTF-8 bytes")]


def test_csv_missing_required_column_is_a_file_error() -> None:
    with pytest.raises(InputError) as e:
        parse_text("id,title,authors\n1,A,B\n", "papers.csv", "csv")
    msg = str(e.value)
    assert msg.startswith(
        "papers.csv: CSV header on line 1 is missing required column(s) 'abstract'"
    )
    assert "found: id, title, authors" in msg


def test_csv_row_with_empty_abstract_and_other_row_problems() -> None:
    text = (
        "Title,Summary,Published\n"
        "First,Has text,2024-01-02\n"
        '"Second, quoted","multi\nline",\n'
        "Third,,2024-01-03\n"
        ",No title,\n"
        "Fifth,too,many,fields\n"
        "Short row\n"
        "Seventh,ok,not a date\n"
    )
    r = parse_text(text, "c.csv", "csv")
    assert [(p.title, p.abstract, p.published) for p in r.papers] == [
        ("First", "Has text", date(2024, 1, 2)),
        ("Second, quoted", "multi\nline", None),
        ("Seventh", "ok", None),
    ]
    assert reasons(r) == [
        (5, "empty abstract"),
        (6, "empty title"),
        (7, "row has 4 fields but the header has 3 (an unquoted comma?)"),
        (8, "empty abstract"),
    ]


def test_csv_unterminated_quote_is_a_rejection_with_its_line() -> None:
    r = parse_text('title,abstract\nA,ok\nB,"never closed\nmore\n', "q.csv", "csv")
    assert [p.title for p in r.papers] == ["A"]
    assert reasons(r) == [(3, "unreadable CSV row: unexpected end of data")]


def test_json_array_element_problems_use_element_index() -> None:
    data = [
        {"title": "T1", "abstract": "A1"},
        "not an object",
        {"title": "T3"},
        {"Title": "T4", "ABSTRACT": "A4", "authors": 12},
    ]
    r = parse_text(json.dumps(data), "a.json", "json")
    assert [(p.title, p.authors) for p in r.papers] == [("T1", []), ("T4", [])]
    assert reasons(r) == [
        (2, "element 2 is not a JSON object (got a string)"),
        (3, "missing required field 'abstract'"),
    ]


def test_malformed_json_document_is_a_file_error() -> None:
    with pytest.raises(InputError, match=r"^x\.json: malformed JSON at line 2, column 1: "):
        parse_text('[{"title": "a", "abstract": "b"}\n}', "x.json", "json")
    with pytest.raises(InputError, match="expected a JSON array of paper objects, got a number"):
        parse_text("42", "n.json", "json")


def test_json_object_with_papers_key_and_single_object() -> None:
    r = parse_text('{"papers": [{"title": "A", "abstract": "B"}]}', "w.json", "json")
    assert [p.title for p in r.papers] == ["A"]
    r = parse_text('{\n  "title": "Solo",\n  "abstract": "One."\n}\n', "s.json")
    assert r.format == "json" and [p.title for p in r.papers] == ["Solo"]


ATOM_HEAD = '<feed xmlns="http://www.w3.org/2005/Atom">'


def test_xml_not_atom() -> None:
    with pytest.raises(InputError, match=r"^r\.xml: not an Atom feed \(root element is <rss>"):
        parse_text('<?xml version="1.0"?>\n<rss><channel/></rss>', "r.xml")
    with pytest.raises(InputError, match="not an Atom feed"):
        parse_text("<feed><entry/></feed>", "nons.xml", "arxiv_atom")  # no Atom namespace


def test_xml_with_doctype_or_entity_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;">]>\n' + ATOM_HEAD + "<title>&lol2;</title></feed>"
    )
    with pytest.raises(InputError, match="DTDs are not allowed"):
        parse_text(bomb, "bomb.xml")
    with pytest.raises(InputError, match="DTDs are not allowed"):
        parse_text(ATOM_HEAD + '<!ENTITY x SYSTEM "file:///etc/passwd"></feed>', "e.xml")


def test_xml_not_well_formed_reports_line_and_column() -> None:
    with pytest.raises(InputError) as e:
        parse_text("\n" + ATOM_HEAD + "\n<entry><title>x</entry>\n</feed>", "bad.xml")
    assert str(e.value) == ("bad.xml: not well-formed XML at line 3, column 18: mismatched tag")


def test_atom_entry_problems_use_entry_index() -> None:
    xml = (
        ATOM_HEAD + "<entry><id>http://arxiv.org/abs/2301.00001v1</id><title>Ok</title>"
        "<summary> Line one\n   line two </summary></entry>"
        "<entry><title>No summary</title></entry>"
        "<entry><summary>No title</summary></entry>"
        "<entry><title>Empty</title><summary>  </summary></entry>"
        "<entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id>"
        "<title>Error</title><summary>incorrect id format for 1234</summary></entry>"
        "<entry><id>http://arxiv.org/abs/2301.00001v2</id><title>Ok again</title>"
        "<summary>dup</summary></entry>"
        "</feed>"
    )
    r = parse_text(xml, "feed.xml")
    assert [(p.paper_id, p.abstract) for p in r.papers] == [("2301.00001", "Line one line two")]
    assert reasons(r) == [
        (2, "entry 2 has no <summary>"),
        (3, "entry 3 has no <title>"),
        (4, "empty abstract"),
        (5, "arXiv API error: incorrect id format for 1234"),
        (6, "duplicate paper_id '2301.00001' (first seen at record 1)"),
    ]


def test_empty_abstract_in_every_record_format() -> None:
    jsonl = parse_text('{"title": "T", "abstract": ""}\n', "e.jsonl")
    assert jsonl.papers == [] and reasons(jsonl) == [(1, "empty abstract")]
    csv_r = parse_text("title,abstract\nT,\n", "e.csv")
    assert csv_r.papers == [] and reasons(csv_r) == [(2, "empty abstract")]


def test_duplicate_ids_keep_first() -> None:
    text = (
        '{"id": "2310.01234v1", "title": "Original", "abstract": "First."}\n'
        '{"id": "arXiv:2310.01234v2", "title": "Revised", "abstract": "Second."}\n'
        '{"title": "Same Title", "abstract": "a"}\n'
        '{"title": "same   title", "abstract": "b"}\n'
    )
    r = parse_text(text, "d.jsonl")
    assert [p.title for p in r.papers] == ["Original", "Same Title"]
    slug = make_paper_id("Same Title")
    assert reasons(r) == [
        (2, "duplicate paper_id '2310.01234' (first seen at record 1)"),
        (4, f"duplicate paper_id '{slug}' (first seen at record 3)"),
    ]


# --------------------------------------------------------------------------- file-level errors


def test_unknown_format_text_is_an_input_error() -> None:
    with pytest.raises(InputError) as e:
        parse_text("just some notes\nwith nothing structured\n", "notes.txt")
    msg = str(e.value)
    assert msg.startswith("notes.txt: cannot tell which format this is")
    assert "hf_daily, jsonl, json, csv, arxiv_atom" in msg
    assert "--format" in msg


def test_unknown_fmt_string_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown format 'yaml'; choose one of: hf_daily"):
        parse_text("x", "x.txt", "yaml")
    with pytest.raises(UsageError):
        parse_file(tmp_path / "does-not-matter.txt", "yaml")


def test_nonexistent_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(InputError) as e:
        parse_file(missing)
    assert str(e.value) == f"{missing}: no such file"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        parse_file(tmp_path)


def test_too_large_file(tmp_path: Path) -> None:
    f = tmp_path / "big.jsonl"
    f.write_text('{"title": "T", "abstract": "A"}\n' * 100)
    with pytest.raises(InputError) as e:
        parse_file(f, max_bytes=1024)
    assert str(e.value) == f"{f}: file is too large (3.1 KiB); the limit is 1.0 KiB"
    assert len(parse_file(f, max_bytes=4096).papers) == 1  # 99 duplicates
    assert parse_file(f, max_bytes=3200).format == "jsonl"  # exactly at the limit is fine


def test_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "empty.csv"
    f.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        parse_file(f)
    with pytest.raises(InputError, match="empty file"):
        parse_text(" \n\n", "blank.txt")


def test_utf16_file_is_explained(tmp_path: Path) -> None:
    f = tmp_path / "u16.jsonl"
    f.write_bytes('{"title": "T", "abstract": "A"}\n'.encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        parse_file(f)


def test_bom_is_ignored(tmp_path: Path) -> None:
    f = tmp_path / "bom.csv"
    f.write_bytes(b"\xef\xbb\xbftitle,abstract\nT,A\n")
    r = parse_file(f)
    assert r.format == "csv" and [p.title for p in r.papers] == ["T"]


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("text", "filename", "expected"),
    [
        (SAMPLE.read_text(encoding="utf-8"), "", "hf_daily"),
        ('{"title": "a", "abstract": "b"}\n{"title": "c"}\n', "", "jsonl"),
        ('  [\n {"title": "a"}\n]', "", "json"),
        ('{\n "papers": []\n}', "", "json"),
        ('{"title": "a", "abstract": "b"}', "x.json", "json"),  # extension breaks the tie
        ("id,Title,Abstract\n1,a,b\n", "", "csv"),
        ("title,summary\n", "papers.txt", "csv"),
        ('<?xml version="1.0"?>\n' + ATOM_HEAD + "</feed>", "", "arxiv_atom"),
        ("<atom:feed xmlns:atom='http://www.w3.org/2005/Atom'/>", "", "arxiv_atom"),
        ("name,year\nfoo,1\n", "list.csv", "csv"),  # content unknown: extension decides
        ("Title\n\nAbstract.\n\n  · 3 authors\n·\nMay 1\n", "", "hf_daily"),
    ],
)
def test_detect_format(text: str, filename: str, expected: str) -> None:
    assert detect_format(text, filename) == expected
    assert expected in FORMATS


def test_detect_unknown_raises() -> None:
    with pytest.raises(InputError, match=r"^mystery\.dat: cannot tell which format"):
        detect_format("<html><body>hi</body></html>", "mystery.dat")
    with pytest.raises(InputError, match=r"^input: cannot tell"):
        detect_format("name,year\nfoo,1\n")


def test_forced_format_overrides_detection() -> None:
    r = parse_text('{"title": "T", "abstract": "A"}', "x.txt", "json")
    assert r.format == "json" and r.papers[0].source == "json"


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2310.01234", "2310.01234"),
        ("2310.01234v2", "2310.01234"),
        ("arXiv:2310.01234v12", "2310.01234"),
        ("https://arxiv.org/abs/2310.01234v2", "2310.01234"),
        ("http://arxiv.org/pdf/2310.01234v1.pdf", "2310.01234"),
        ("cs/0112017", "cs/0112017"),
        ("http://arxiv.org/abs/math.GT/0309136v1", "math.GT/0309136"),
        ("paper-17", None),
        ("foo/1234567", None),
        ("https://example.org/2310.01234", None),
        ("", None),
        (None, None),
    ],
)
def test_arxiv_id_from(value: str | None, expected: str | None) -> None:
    assert arxiv_id_from(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-11-11", date(2023, 11, 11)),
        ("2023-11-11T10:00:00Z", date(2023, 11, 11)),
        ("Nov 11, 2023", date(2023, 11, 11)),
        ("November 11 2023", date(2023, 11, 11)),
        ("11 Nov 2023", date(2023, 11, 11)),
        ("2023-02-30", None),
        ("yesterday", None),
        (20231111, None),
        (None, None),
    ],
)
def test_parse_date(value: object, expected: date | None) -> None:
    assert parse_date(value) == expected


def test_split_authors() -> None:
    assert split_authors("A. One, B. Two and C. Three") == ["A. One", "B. Two", "C. Three"]
    assert split_authors(["X", " ", {"name": "Y"}, 3]) == ["X", "Y"]
    assert split_authors(None) == []
