"""Property tests: no input makes a parser fail with anything but InputError/UsageError, and
records written as JSONL/CSV/JSON parse back unchanged."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.errors import InputError, UsageError
from assistant.sources import FORMATS, detect_format, parse_file, parse_text
from assistant.types import ParseResult

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUNDTRIP = settings(max_examples=100, deadline=None)

FORMAT_OR_AUTO = st.sampled_from([None, *FORMATS])
# Any code point, with lone surrogates (what undecodable bytes become under surrogateescape)
# drawn often: hypothesis leaves surrogates out of st.text() by default.
ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
)
SAMPLE_HF = (Path(__file__).resolve().parents[1] / "assistant/data/hf_daily_sample.txt").read_text(
    encoding="utf-8"
)
DATA = Path(__file__).resolve().parent / "data"
SEEDS = [
    SAMPLE_HF[:6000],
    (DATA / "sample.jsonl").read_text(encoding="utf-8"),
    (DATA / "sample.json").read_text(encoding="utf-8"),
    (DATA / "sample.csv").read_text(encoding="utf-8"),
    (DATA / "sample_atom.xml").read_text(encoding="utf-8"),
]


def _check(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    assert result.format in FORMATS
    for paper in result.papers:
        assert paper.title.strip() and paper.abstract.strip()
        paper.title.encode("utf-8")  # no lone surrogates get through
        paper.abstract.encode("utf-8")
    assert len({p.paper_id for p in result.papers}) == len(result.papers)
    for rej in result.rejected:
        assert rej.reason


def _parse_safely(text: str, fmt: str | None) -> None:
    with contextlib.suppress(InputError, UsageError):
        _check(parse_text(text, "fuzz.txt", fmt))


@FUZZ
@given(text=st.text(alphabet=ANY_CHAR, max_size=400), fmt=FORMAT_OR_AUTO)
def test_arbitrary_text_never_crashes(text: str, fmt: str | None) -> None:
    _parse_safely(text, fmt)


# Text built from the characters that matter to the parsers, so structure is hit more often.
STRUCTURAL = st.text(
    alphabet=st.sampled_from(
        list("{}[]\",:\n\r \t<>/!?=-•·abcdefghtitleabstract0123456789\udcff\\'&;")
    ),
    max_size=300,
)


@FUZZ
@given(text=STRUCTURAL, fmt=FORMAT_OR_AUTO)
def test_structural_text_never_crashes(text: str, fmt: str | None) -> None:
    _parse_safely(text, fmt)


@FUZZ
@given(data=st.binary(max_size=400), fmt=FORMAT_OR_AUTO, max_bytes=st.sampled_from([64, 10**6]))
def test_arbitrary_bytes_never_crash(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, fmt: str | None, max_bytes: int
) -> None:
    # tmp_path is function-scoped and would be shared by all examples; the factory is not.
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.bin"
    path.write_bytes(data)
    with contextlib.suppress(InputError, UsageError):
        _check(parse_file(path, fmt, max_bytes=max_bytes))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str | None]:
    """A real sample file with a few characters deleted, inserted or replaced."""
    chars = list(draw(st.sampled_from(SEEDS)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(draw(st.integers(1, 8))):
        pos = rng.randrange(len(chars) + 1)
        op = rng.choice(("delete", "insert", "replace", "cut"))
        junk = rng.choice(['"', "{", "}", "<", ">", "\n", ",", "\udcff", "\x00", "é", "•", "·"])
        if op == "delete" and pos < len(chars):
            del chars[pos]
        elif op == "insert":
            chars.insert(pos, junk)
        elif op == "replace" and pos < len(chars):
            chars[pos] = junk
        elif op == "cut":
            chars = chars[:pos]
    return "".join(chars), draw(FORMAT_OR_AUTO)


@FUZZ
@given(case=mutated())
def test_mutated_samples_never_crash(case: tuple[str, str | None]) -> None:
    _parse_safely(*case)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(ANY_CHAR, max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
RECORD_FIELDS = st.sampled_from(
    ["id", "title", "abstract", "summary", "authors", "published", "url", "Title", "x"]
)


@ROUNDTRIP  # recursive values are slow to generate; 100 examples is plenty
@given(records=st.lists(st.dictionaries(RECORD_FIELDS, JSON_VALUES, max_size=6), max_size=5))
def test_json_records_with_arbitrary_field_values_never_crash(
    records: list[dict[str, object]],
) -> None:
    for fmt, text in (
        ("jsonl", "\n".join(json.dumps(r) for r in records)),
        ("json", json.dumps(records)),
    ):
        _parse_safely(text, fmt)


# --------------------------------------------------------------------------- round trips

# Printable text without control characters or surrogates; titles are whitespace-collapsed by
# Paper.build and abstracts stripped, so the expected values apply the same normalisation.
CLEAN = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"
    ),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() != "")


@st.composite
def records(draw: st.DrawFn) -> list[tuple[str, str]]:
    pairs = draw(st.lists(st.tuples(CLEAN, CLEAN), min_size=1, max_size=6))
    # Titles decide the slug id, so equal titles would be dropped as duplicates.
    seen: set[str] = set()
    unique = []
    for title, abstract in pairs:
        key = " ".join(title.lower().split())
        if key not in seen:
            seen.add(key)
            unique.append((title, abstract))
    return unique


def _expected(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(" ".join(t.split()), a.strip()) for t, a in pairs]


def _got(result: ParseResult) -> list[tuple[str, str]]:
    assert result.rejected == []
    return [(p.title, p.abstract) for p in result.papers]


@ROUNDTRIP
@given(pairs=records())
def test_jsonl_round_trip(pairs: list[tuple[str, str]]) -> None:
    text = "\n".join(json.dumps({"title": t, "abstract": a}) for t, a in pairs) + "\n"
    assert detect_format(text) == "jsonl"
    assert _got(parse_text(text, "rt.jsonl")) == _expected(pairs)


@ROUNDTRIP
@given(pairs=records())
def test_json_round_trip(pairs: list[tuple[str, str]]) -> None:
    text = json.dumps([{"title": t, "summary": a} for t, a in pairs], indent=2)
    assert _got(parse_text(text, "rt.json")) == _expected(pairs)


@ROUNDTRIP
@given(pairs=records())
def test_csv_round_trip(pairs: list[tuple[str, str]]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["title", "abstract"])
    writer.writerows(pairs)
    assert _got(parse_text(buf.getvalue(), "rt.csv", "csv")) == _expected(pairs)
