"""Parser for arXiv API responses (Atom 1.0 feeds, http://export.arxiv.org/api/query).

Security: the standard-library parser would honour a DTD, so any document declaring one
(``<!DOCTYPE``/``<!ENTITY``) is refused before parsing. That rules out entity-expansion
("billion laughs") and external-entity attacks; the arXiv API never sends a DTD.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from assistant.errors import InputError
from assistant.sources._common import (
    BAD_BYTES,
    Collector,
    arxiv_id_from,
    has_bad_bytes,
    parse_date,
    split_authors,
)
from assistant.types import ParseResult

FORMAT = "arxiv_atom"
ATOM = "{http://www.w3.org/2005/Atom}"

_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_SURROGATES = re.compile("[\ud800-\udfff]")
# Undecodable bytes (lone surrogates) cannot be handed to expat, so they are swapped for a
# Unicode noncharacter that no real feed contains; entries holding it are rejected.
_MARK = "\ufdd0"


def _text(entry: ET.Element, tag: str) -> str | None:
    node = entry.find(ATOM + tag)
    if node is None:
        return None
    return "".join(node.itertext())


def parse_arxiv_atom(text: str, name: str) -> ParseResult:
    out = Collector(name, FORMAT)
    if _DTD.search(text):
        raise InputError(f"{name}: DTDs are not allowed in XML input (<!DOCTYPE>/<!ENTITY>)")
    # An XML declaration must be the very first thing; forgive leading blank lines but keep
    # the reported line numbers true to the file.
    body = text.lstrip()
    skipped = text[: len(text) - len(body)].count("\n")
    try:
        root = ET.fromstring(_SURROGATES.sub(_MARK, body))
    except ET.ParseError as e:
        line, col = e.position
        if line == 1:
            col += len(text[: len(text) - len(body)].rpartition("\n")[2])
        line += skipped
        reason = str(e).split(":")[0]
        raise InputError(
            f"{name}: not well-formed XML at line {line}, column {col + 1}: {reason}"
        ) from None
    if root.tag != ATOM + "feed":
        found = root.tag.replace(ATOM, "atom:")
        raise InputError(
            f"{name}: not an Atom feed (root element is <{found}>, expected "
            '<feed xmlns="http://www.w3.org/2005/Atom">)'
        )
    for index, entry in enumerate(root.findall(ATOM + "entry"), start=1):
        entry_id = (_text(entry, "id") or "").strip()
        title = _text(entry, "title")
        summary = _text(entry, "summary")
        names = [_text(a, "name") or "" for a in entry.findall(ATOM + "author")]
        if "/api/errors" in entry_id:  # the API reports bad queries as an entry
            out.reject(index, f"arXiv API error: {' '.join((summary or '').split())}")
            continue
        if any(_MARK in s for s in (entry_id, title or "", summary or "", *names)):
            out.reject(index, BAD_BYTES)
            continue
        if title is None or summary is None:
            missing = "title" if title is None else "summary"
            out.reject(index, f"entry {index} has no <{missing}>")
            continue
        url = None
        for link in entry.findall(ATOM + "link"):
            if link.get("rel", "alternate") == "alternate" and link.get("href"):
                url = link.get("href")
                break
        if url is not None and (has_bad_bytes(url) or _MARK in url):
            url = None
        # Abstracts arrive hard-wrapped at ~80 columns; the line breaks carry no meaning.
        abstract = re.sub(r"\s*\n\s*", " ", summary.strip())
        out.add(
            index,
            title=title,
            abstract=abstract,
            arxiv_id=arxiv_id_from(entry_id) or arxiv_id_from(url),
            authors=split_authors(names),
            published=parse_date((_text(entry, "published") or "").strip()),
            url=url or (entry_id if entry_id.startswith("http") else None),
        )
    return out.result()
