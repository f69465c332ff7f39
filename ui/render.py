"""Safe HTML for everything the UI shows that came from a model or an abstract.

Pure functions, no gradio: unit-testable. The browser still sanitizes (gradio's Chatbot and
Markdown run DOMPurify), but nothing here relies on that:

* every piece of untrusted text goes through :func:`esc`, which turns HTML *and* markdown,
  template and URL syntax (``< > & " ' [ ] ( ) ! * _ ` $ { } | # : =`` ...) into numeric
  character references. A character reference is only ever text: it cannot open a tag, a
  markdown image or link, a ``javascript:`` URL or a ``${...}`` template;
* model text is first cleaned with :func:`assistant.grounding.judge.strip_unsafe` (markdown images,
  links, raw HTML and off-source URLs removed), then escaped;
* the only links emitted are a paper's own ``http``/``https`` URL, in an escaped attribute;
* every fragment is one line inside a ``<div>``, so a markdown renderer treats it as an HTML
  block and does not parse markdown inside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from assistant.grounding.judge import strip_unsafe
from assistant.types import Answer, Citation, IngestReport, Paper, Tldr

__all__ = [
    "BUSY_TEXT",
    "CSS",
    "abstention_html",
    "answer_html",
    "answer_message",
    "list_html",
    "busy_html",
    "error_html",
    "esc",
    "human_size",
    "ingest_summary_html",
    "paper_html",
    "safe_url",
    "source_card",
    "sources_html",
    "span_offset",
    "standalone_html",
    "status_html",
    "tldr_html",
    "tldr_progress_html",
    "user_html",
]

# The UI's stylesheet: the classes below are the ones these functions emit.
CSS = """
.pa-answer { line-height: 1.5; }
.pa-cite { color: var(--color-accent); font-weight: 600; }
.pa-pending { opacity: .6; }
.pa-sources { margin-top: .6em; border-top: 1px solid var(--border-color-primary); }
.pa-sources-head { font-size: .85em; font-weight: 600; margin: .4em 0; opacity: .8; }
.pa-card, .pa-paper { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: .5em .75em; margin: .4em 0; background: var(--background-fill-secondary); }
.pa-card-title { font-weight: 600; }
.pa-card-meta { font-size: .85em; opacity: .8; margin: .15em 0 .3em; }
.pa-quote { margin: .3em 0; padding-left: .6em; border-left: 3px solid var(--color-accent);
  font-size: .92em; }
.pa-quote mark { background: #fff3a3; color: #111; padding: 0 .1em; }
.pa-quote .pa-span { font-weight: 700; text-decoration: underline; text-underline-offset: 2px; }
.pa-list { list-style: none; padding-left: 0; margin: .4em 0; }
.pa-more, .pa-understood { font-size: .85em; opacity: .75; margin: .3em 0; }
.pa-understood { font-style: italic; }
.pa-abstain-head { font-weight: 600; }
.pa-busy, .pa-error { font-weight: 600; color: #b45309; }
.pa-status { font-size: .9em; opacity: .85; }
.pa-abstract { margin-top: .4em; white-space: normal; }
.pa-progress { font-size: .9em; }
.pa-progress progress { width: 9em; vertical-align: middle; }
.pa-method { font-weight: 600; }
#pa-papers .virtual-table-viewport { max-height: calc(100vh - 245px) !important; }
#pa-papers table, #pa-papers td, #pa-papers th, #pa-papers span { font-family: var(--font);
  font-size: .86rem; }
#pa-papers td .cell-wrap { padding-top: 2px; padding-bottom: 2px; }
#pa-detail .pa-paper { max-height: calc(100vh - 330px); overflow-y: auto; }
"""

BUSY_TEXT = "The model is busy with other questions; please try again in a moment."
# Characters that mean something to HTML, markdown, KaTeX, JS templates or URL parsers.
_SPECIAL = "&<>\"'`[]()!*_~$\\{}|#:=@^"
_TABLE = {ord(c): f"&#{ord(c)};" for c in _SPECIAL}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\ufeff]")
_MARKER = re.compile(r"&#91;(\d{1,3})&#93;")
_SCHEMES = ("http", "https")
QUOTE_CONTEXT = 160  # characters of abstract shown around a highlighted quote


def esc(text: str | None) -> str:
    """Untrusted text -> inert HTML text (line breaks kept as ``<br>``)."""
    if not text:
        return ""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n"))
    return text.translate(_TABLE).replace("\n", "<br>")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host, else None."""
    if not url:
        return None
    url = url.strip()
    if _CONTROL.search(url) or any(c.isspace() for c in url) or any(c in url for c in "<>\"'`"):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return None
    return url


def _link(url: str | None, label: str) -> str:
    href = safe_url(url)
    if href is None:
        return ""
    return (
        f'<a class="pa-link" href="{esc(href)}" target="_blank" '
        f'rel="noopener noreferrer nofollow">{esc(label)}</a>'
    )


def _model_text(text: str) -> str:
    """Model output -> escaped HTML; citation markers become superscripts."""
    cleaned = strip_unsafe(text)
    return _MARKER.sub(r'<sup class="pa-cite">&#91;\1&#93;</sup>', esc(cleaned))


def user_html(question: str) -> str:
    return f'<div class="pa-user">{esc(question)}</div>'


def answer_html(sentences: Sequence[str], *, pending: bool = False) -> str:
    """The verified sentences streamed so far (``pending``: more may follow)."""
    body = " ".join(_model_text(s) for s in sentences if s.strip())
    if pending:
        body += ' <span class="pa-pending">&#8230;</span>'
    return f'<div class="pa-answer">{body}</div>'


def span_offset(quote: str, span: str, start: int | None) -> int | None:
    """Where ``span`` sits in ``quote``: ``start`` when it fits, else its first occurrence."""
    if not span:
        return None
    if start is not None and start >= 0 and quote[start : start + len(span)] == span:
        return start
    found = quote.find(span)
    return found if found >= 0 else None


def _marked(quote: str, span: str, start: int | None) -> str:
    """The quote inside ``<mark>``, its answering span inside that in ``<b class="pa-span">``.
    Each piece is escaped on its own, so the span's tags never split a character reference."""
    at = span_offset(quote, span, start)
    if at is None:
        return f"<mark>{esc(quote)}</mark>"
    end = at + len(span)
    return (
        f'<mark>{esc(quote[:at])}<b class="pa-span">{esc(quote[at:end])}</b>'
        f"{esc(quote[end:])}</mark>"
    )


def _quote_html(
    quote: str, abstract: str | None, span: str = "", span_start: int | None = None
) -> str:
    """The verbatim quote, highlighted with its answering span, and some of its surrounding
    abstract when found."""
    lead = len(quote) - len(quote.lstrip())
    quote = quote.strip()
    if not quote:
        return ""
    start_in = span_start - lead if span_start is not None else None
    marked = _marked(quote, span, start_in)
    at = abstract.find(quote) if abstract else -1
    if abstract is None or at < 0:
        return f'<blockquote class="pa-quote">{marked}</blockquote>'
    start = max(0, at - QUOTE_CONTEXT)
    end = min(len(abstract), at + len(quote) + QUOTE_CONTEXT)
    if start > 0:  # cut the context at word boundaries
        space = abstract.find(" ", start, at)
        start = space + 1 if space >= 0 else at
    if end < len(abstract):
        space = abstract.rfind(" ", at + len(quote), end)
        end = space if space >= 0 else at + len(quote)
    before = ("&#8230;" if start > 0 else "") + esc(abstract[start:at])
    after = esc(abstract[at + len(quote) : end]) + ("&#8230;" if end < len(abstract) else "")
    return f'<blockquote class="pa-quote">{before}{marked}{after}</blockquote>'


def _meta(published: str | None, authors: str | None) -> str:
    parts = [p for p in (published, authors) if p]
    return esc(" · ".join(parts))


def source_card(citation: Citation, abstract: str | None = None, *, number: str = "") -> str:
    """One source: marker (or list ``number``), title, date, authors, link, marked quote."""
    link = _link(citation.url, "paper")
    num = esc(number) if number else f"&#91;{citation.marker}&#93;"
    quote = _quote_html(citation.quote, abstract, citation.span, citation.span_start)
    return (
        '<div class="pa-card">'
        f'<div class="pa-card-title"><span class="pa-num">{num}</span> '
        f"{esc(citation.title)}</div>"
        f'<div class="pa-card-meta">{_meta(citation.published, citation.authors)}'
        f"{' · ' + link if link else ''}</div>"
        f"{quote}"
        "</div>"
    )


def sources_html(citations: Sequence[Citation], abstracts: Mapping[str, str] | None = None) -> str:
    if not citations:
        return ""
    abstracts = abstracts or {}
    cards = "".join(source_card(c, abstracts.get(c.paper_id)) for c in citations)
    return f'<div class="pa-sources"><div class="pa-sources-head">Sources</div>{cards}</div>'


def list_html(answer: Answer, abstracts: Mapping[str, str] | None = None) -> str:
    """A "which papers" answer: one numbered card per matching paper, strongest first, then
    how many more matched than are shown (a ``ul``: the cards carry their own numbers)."""
    abstracts = abstracts or {}
    cards = "".join(
        f'<li class="pa-list-item">{source_card(c, abstracts.get(c.paper_id), number=f"{n}.")}</li>'
        for n, c in enumerate(answer.citations, 1)
    )
    more = ""
    if answer.more > 0:
        papers = "paper" if answer.more == 1 else "papers"
        more = f'<div class="pa-more">&#8230; and {answer.more} more {papers}</div>'
    return f'<ul class="pa-list">{cards}</ul>{more}' if cards else more


def standalone_html(answer: Answer) -> str:
    """The question as it was understood, for a follow-up that was resolved ("" otherwise)."""
    resolved = answer.standalone_question
    if not resolved or " ".join(resolved.split()) == " ".join(answer.question.split()):
        return ""
    return f'<div class="pa-understood">Understood as: {esc(resolved)}</div>'


def abstention_html(answer: Answer) -> str:
    head = (
        '<div class="pa-abstain"><div class="pa-abstain-head">No answer: '
        f"{esc(answer.answer)}</div>"
    )
    if answer.retrieved:
        items = "".join(f"<li>{esc(r.title)}</li>" for r in answer.retrieved[:5])
        return f'{head}<div>You may mean:</div><ul class="pa-near">{items}</ul></div>'
    return f"{head}<div>No indexed paper is close to this question.</div></div>"


def answer_message(answer: Answer, abstracts: Mapping[str, str] | None = None) -> str:
    """The final chat message for one answer: the question as understood (follow-ups), then
    text and source cards, a list of cards ("which papers"), or an abstention."""
    understood = standalone_html(answer)
    if answer.abstained:
        return understood + abstention_html(answer)
    if answer.kind == "list":
        return understood + answer_html([answer.answer]) + list_html(answer, abstracts)
    return understood + answer_html([answer.answer]) + sources_html(answer.citations, abstracts)


def busy_html(message: str = BUSY_TEXT) -> str:
    return f'<div class="pa-busy">&#9203; {esc(message)}</div>'


def error_html(message: str) -> str:
    return f'<div class="pa-error">{esc(message)}</div>'


def human_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"  # pragma: no cover


def status_html(
    *, model: str, model_bytes: int | None, papers: int, chunks: int, data_dir: str
) -> str:
    return (
        '<div class="pa-status">'
        f"Model: <b>{esc(model)}</b> ({esc(human_size(model_bytes))}) · "
        f"{papers} papers · {chunks} chunks · data: <code>{esc(data_dir)}</code></div>"
    )


def paper_html(paper: Paper, tldr: Tldr | None = None, *, shown_id: str | None = None) -> str:
    """One paper for the Papers tab's detail pane: title, id, date, authors, link, TL;DR with how
    it was made, and the abstract."""
    meta = _meta(paper.published.isoformat() if paper.published else None, _authors(paper))
    link = _link(paper.url, paper.url or "")
    ident = esc(shown_id or paper.paper_id)
    if shown_id and shown_id != paper.paper_id:
        ident = f'<span title="{esc(paper.paper_id)}">{ident}</span>'
    return (
        '<div class="pa-paper">'
        f'<div class="pa-card-title">{esc(paper.title)}</div>'
        f'<div class="pa-card-meta">{ident} · {meta}'
        f"{' · ' + link if link else ''}</div>"
        f'{tldr_html(tldr)}<div class="pa-abstract">{esc(paper.abstract)}</div></div>'
    )


METHOD_NOTES = {
    "generated": "written by the model and checked against the abstract",
    "extractive": "compressed from an abstract sentence (no model text passed the check)",
}


def tldr_html(record: Tldr | None) -> str:
    if record is None:
        return '<div class="pa-tldr pa-pending">TL;DR not written yet.</div>'
    note = METHOD_NOTES.get(record.method, record.method)
    return (
        f'<div class="pa-tldr"><b>TL;DR:</b> {esc(record.tldr)}'
        f'<div class="pa-card-meta"><span class="pa-method">{esc(record.method)}</span>: '
        f"{esc(note)}; support {record.support:.2f}</div></div>"
    )


def _authors(paper: Paper) -> str:
    if paper.authors:
        shown = ", ".join(paper.authors[:3])
        return shown + (" et al." if len(paper.authors) > 3 else "")
    if not paper.n_authors:
        return ""
    return f"{paper.n_authors} author{'' if paper.n_authors == 1 else 's'}"


def tldr_progress_html(
    *, state: str, done: int, total: int, current: str, error: str, have: int, papers: int
) -> str:
    """The Papers tab's line about TL;DRs: how many papers have one, and the background run."""
    head = f"TL;DRs: <b>{have} of {papers}</b> papers"
    if state == "running" and total:
        pct = int(100 * done / total)
        now = f" · now: {esc(current[:80])}" if current else ""
        bar = f'<progress max="{total}" value="{done}"></progress>'
        return (
            f'<div class="pa-progress">{head} · writing the missing ones in the background '
            f"({done}/{total}, {pct} %){now} {bar}</div>"
        )
    if state == "failed":
        return f'<div class="pa-progress">{head} · <span class="pa-error">{esc(error)}</span></div>'
    return f'<div class="pa-progress">{head}</div>'


def ingest_summary_html(report: IngestReport, *, shown: int = 20) -> str:
    counts = (
        f"added {len(report.added)} · updated {len(report.updated)} · "
        f"unchanged {len(report.unchanged)} · rejected {len(report.rejected)}"
    )
    items = []
    for r in report.rejected[:shown]:
        where = f"{r.file}:{r.record}" if r.record is not None else r.file
        items.append(f"<li><code>{esc(where)}</code>: {esc(r.reason)}</li>")
    more = len(report.rejected) - shown
    if more > 0:
        items.append(f"<li>&#8230; and {more} more</li>")
    rejected = f'<ul class="pa-rejected">{"".join(items)}</ul>' if items else ""
    return (
        f'<div class="pa-ingest"><b>{counts}</b> ({report.chunks_written} chunks written in '
        f"{report.seconds:.1f} s){rejected}</div>"
    )
