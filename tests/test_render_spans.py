"""Answer spans and list answers, as the UI's HTML (ui/render.py) and the CLI's text show them;
`assistant ask --history FILE`. Fakes only: a stub Assistant for the CLI."""

from __future__ import annotations

import html as html_lib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from assistant import service
from assistant.cli import main
from assistant.cli import model as cli_model
from assistant.config import Settings
from assistant.testing import FakeEmbedder, FakeLLM
from assistant.types import Answer, Citation, RetrievedRef
from ui import render

QUOTE = "<b>&amp; With merely 360 million parameters, Cappy works & wins <3"
ABSTRACT = f"Intro text here. {QUOTE} More text after."
_TAGS = {"div", "span", "sup", "mark", "blockquote", "a", "b", "code", "ul", "li", "br"}


def _cite(quote: str = QUOTE, span: str = "", start: int | None = None, **kw: Any) -> Citation:
    base: dict[str, Any] = dict(
        marker=1, paper_id="p1", title="Cappy <i>x</i>", chunk_id="p1#0", quote=quote,
        span=span, span_start=start,
    )  # fmt: skip
    return Citation(**(base | kw))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._span_depth = 0
        self.span_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "b" and dict(attrs).get("class") == "pa-span":
            self._span_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "b" and self._span_depth:
            self._span_depth -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._span_depth:
            self.span_text.append(data)


def _parse(fragment: str) -> _Tags:
    parser = _Tags()
    parser.feed(fragment)
    parser.close()
    for tag, _ in parser.tags:
        assert tag in _TAGS, (tag, fragment)  # the quote's own <b> is text, never a tag
    return parser


# ---- spans in the source card -------------------------------------------------------------


@pytest.mark.parametrize(
    "span",
    [
        "<b>&amp;",  # at the start, and made of markup
        "360 million parameters",  # in the middle
        "& wins <3",  # at the end
        QUOTE,  # the whole quote
    ],
)
def test_span_is_marked_inside_the_highlighted_quote(span: str) -> None:
    start = QUOTE.index(span)
    for abstract in (ABSTRACT, None):  # with its context, and the quote alone
        html = render.source_card(_cite(span=span, start=start), abstract)
        parsed = _parse(html)
        assert "".join(parsed.span_text) == span
        assert html.count('class="pa-span"') == 1
        mark = re.search(r"<mark>(.*)</mark>", html)
        assert mark is not None and 'class="pa-span"' in mark.group(1)
        # what the reader sees is the quote, character for character
        assert html_lib.unescape(re.sub(r"<[^>]+>", "", mark.group(1))) == QUOTE
        assert "<b>&amp;" not in html.replace('<b class="pa-span">', "")


def test_span_offset_that_does_not_fit_is_found_or_dropped() -> None:
    # a stale offset: the span is looked up in the quote instead
    html = render.source_card(_cite(span="360 million parameters", start=0), ABSTRACT)
    assert "".join(_parse(html).span_text) == "360 million parameters"
    # a span that is not in the quote: the quote is shown without one
    html = render.source_card(_cite(span="not there", start=3), ABSTRACT)
    assert 'class="pa-span"' not in html and "<mark>" in html
    # no span at all: as before
    assert 'class="pa-span"' not in render.source_card(_cite(), ABSTRACT)


def test_span_offset_survives_surrounding_whitespace() -> None:
    quote = "  Cappy has 360 million parameters. "
    html = render.source_card(_cite(quote=quote, span="360 million", start=12))
    assert "".join(_parse(html).span_text) == "360 million"


# ---- list answers and the understood question -----------------------------------------------


def _list_answer(n: int = 3, more: int = 2) -> Answer:
    cites = [
        _cite(
            quote=f"Paper {i} uses a mixture <of> experts.",
            span="mixture <of> experts",
            start=len(f"Paper {i} uses a "),
            marker=i,
            paper_id=f"p{i}",
            title=f"Title {i} & co",
        )
        for i in range(1, n + 1)
    ]
    return Answer(
        question="Which papers use a mixture of experts?",
        answer=f"{n + more} papers match:",
        abstained=False,
        kind="list",
        citations=cites,
        more=more,
    )


def test_list_answer_is_a_list_of_cards_with_and_n_more() -> None:
    html = render.answer_message(_list_answer())
    parsed = _parse(html)
    assert html.count('class="pa-card"') == 3 and html.count('class="pa-list-item"') == 3
    assert html.index("Title 1") < html.index("Title 2") < html.index("Title 3")  # as ranked
    assert "and 2 more papers" in html_lib.unescape(html)
    assert parsed.span_text == ["mixture <of> experts"] * 3
    assert "5 papers match" in html
    one_more = render.answer_message(_list_answer(n=1, more=1))
    assert "and 1 more paper<" in html_lib.unescape(one_more)
    assert "more paper" not in render.answer_message(_list_answer(more=0))


def test_resolved_follow_up_shows_what_was_understood() -> None:
    ans = Answer(
        question="Which tasks does it unify?",
        standalone_question="Which tasks does <UniVTG> unify?",
        answer="Moment retrieval [1].",
        abstained=False,
        citations=[_cite()],
    )
    html = render.answer_message(ans)
    assert html.startswith('<div class="pa-understood">Understood as: ')
    assert "&#60;UniVTG&#62;" in html and "<UniVTG>" not in html
    same = ans.model_copy(update={"standalone_question": ans.question})
    assert "pa-understood" not in render.answer_message(same)
    abstained = ans.model_copy(update={"abstained": True, "kind": "abstain", "citations": []})
    assert "Understood as" in render.answer_message(abstained)


# ---- the CLI --------------------------------------------------------------------------------


class _Stub:
    """Stands in for assistant.service.Assistant: records what ``ask`` got."""

    answer: Answer
    seen: list[dict[str, Any]] = []

    def __init__(self, settings: Settings, *, write: bool = False, preload: bool = False) -> None:
        pass

    def __enter__(self) -> _Stub:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def ask(self, question: str, **kw: Any) -> Answer:
        _Stub.seen.append({"question": question, **kw})
        return _Stub.answer.model_copy(update={"question": question})


@pytest.fixture()
def stub(monkeypatch: pytest.MonkeyPatch) -> type[_Stub]:
    _Stub.seen = []
    _Stub.answer = Answer(
        question="",
        standalone_question="Which tasks does UniVTG unify?",
        answer="Moment retrieval and highlight detection [1].",
        abstained=False,
        citations=[_cite(quote="It unifies moment retrieval.", span="moment retrieval", start=11)],
        retrieved=[RetrievedRef(paper_id="p1", title="UniVTG", score=1.0)],
    )
    monkeypatch.setattr(service, "Assistant", _Stub)
    return _Stub


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_bold_span_only_on_a_terminal_and_not_with_no_color(
    stub: type[_Stub], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "Which tasks does it unify?"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "It unifies moment retrieval." in out  # piped: plain
    assert "(understood as: Which tasks does UniVTG unify?)" in out

    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = _Tty()
    monkeypatch.setattr("sys.stdout", tty)
    assert main(["ask", "Which tasks does it unify?"]) == 0
    assert f"It unifies {cli_model.BOLD}moment retrieval{cli_model.PLAIN}." in tty.getvalue()

    monkeypatch.setenv("NO_COLOR", "1")
    tty = _Tty()
    monkeypatch.setattr("sys.stdout", tty)
    assert main(["ask", "Which tasks does it unify?"]) == 0
    assert "\x1b[" not in tty.getvalue()


def test_cli_does_not_print_understood_as_when_unchanged(
    stub: type[_Stub], capsys: pytest.CaptureFixture[str]
) -> None:
    stub.answer = stub.answer.model_copy(update={"standalone_question": None})
    assert main(["ask", "Which tasks does UniVTG unify?"]) == 0
    assert "understood as" not in capsys.readouterr().out


def test_cli_prints_a_list_answer_numbered_with_and_n_more(
    stub: type[_Stub], capsys: pytest.CaptureFixture[str]
) -> None:
    stub.answer = _list_answer()
    assert main(["ask", "Which papers use a mixture of experts?"]) == 0
    out = capsys.readouterr().out
    assert "5 papers match:" in out
    lines = [line for line in out.splitlines() if re.match(r"\d+\. ", line)]
    assert [line.split(" (")[0] for line in lines] == [f"{i}. Title {i} & co" for i in (1, 2, 3)]
    assert out.count("\u201cPaper ") == 3 and "... and 2 more papers" in out
    assert "[1]" not in out  # not also printed as markers


def test_cli_quote_text_strips_terminal_escapes() -> None:
    c = _cite(quote="a \x1b[31mred\x1b[0m 42 tasks", span="42 tasks", start=15)
    assert "\x1b[31m" not in cli_model.quote_text(c, bold=True)
    assert cli_model.quote_text(c, bold=True).endswith(f"{cli_model.BOLD}42 tasks{cli_model.PLAIN}")
    assert "\x1b" not in cli_model.quote_text(c, bold=False)


def test_cli_json_carries_span_fields(
    stub: type[_Stub], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "Which tasks does it unify?", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["standalone_question"] == "Which tasks does UniVTG unify?"
    assert got["citations"][0]["span"] == "moment retrieval"
    assert got["citations"][0]["span_start"] == 11


# ---- --history ------------------------------------------------------------------------------


def test_history_file_reaches_the_pipeline(
    stub: type[_Stub], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = [
        {"role": "user", "content": "What is UniVTG?"},
        {"role": "assistant", "content": "A grounding model [1].", "extra": "ignored"},
    ]
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(history), encoding="utf-8")
    assert main(["ask", "Which tasks does it unify?", "--history", str(path), "--json"]) == 0
    assert stub.seen[-1]["history"] == [{k: m[k] for k in ("role", "content")} for m in history]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[{", "not valid JSON"),
        ('{"role": "user", "content": "x"}', "expected a JSON list"),
        ('[{"role": "system", "content": "x"}]', "message 1"),
        ('[{"role": "user", "content": "ok"}, {"role": "user"}]', "message 2"),
        ('[{"role": "user", "content": 3}]', "message 1"),
        ('["hello"]', "message 1"),
        (b"\xff\xfe[", "cannot read"),
    ],
)
def test_bad_history_file_is_a_usage_error_naming_the_file(
    stub: type[_Stub],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes,
    says: str,
) -> None:
    path = tmp_path / "bad history.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert main(["ask", "Which tasks does it unify?", "--history", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and says in err and "Traceback" not in err
    assert stub.seen == []  # nothing was asked


def test_missing_history_file_is_a_usage_error(
    stub: type[_Stub], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    assert main(["ask", "Q?", "--history", str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["exit_code"] == 2 and str(missing) in captured.err


def test_history_resolves_the_follow_up_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real Assistant with fakes inside: the follow-up's "it" is resolved from the file."""
    from assistant.sources import parse_file
    from vectorstore.chroma import ChromaStore

    sample = Path(__file__).resolve().parents[1] / "assistant" / "data" / "hf_daily_sample.txt"
    store = ChromaStore(None, f"cli-{tmp_path.name[-12:]}")
    llm = FakeLLM(default_text="Cappy has 360 million parameters [1].")
    real = service.Assistant

    def make(
        settings: Settings, *, write: bool = False, preload: bool = False
    ) -> service.Assistant:
        settings = settings.model_copy(update={"relevance_floor": 0.05})
        embedder = FakeEmbedder()
        made = real(settings, write=True, llm=llm, embedder=embedder, store=store, preload=preload)
        if not store.count_papers():
            made.library.ingest(parse_file(sample).papers[:8])
        return made

    monkeypatch.setattr(service, "Assistant", make)
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"role": "user", "content": "Tell me about the Cappy paper."}]))
    args = ["ask", "How many parameters does it have?", "--history", str(path), "--json"]
    assert main([*args, "--data-dir", str(tmp_path / "d")]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["standalone_question"] == "How many parameters does Cappy have?"
    assert not [c for c in llm.calls if "Follow-up question:" in c[-1]["content"]]
