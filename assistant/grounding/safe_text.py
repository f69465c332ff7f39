"""Text safety for model output: markup and URLs the sources do not vouch for.

The grounding check rejects a sentence with an unknown URL (``url_key``/``known_urls``); the
answerer, the TL;DR writer and the UI strip what must never render (``strip_unsafe``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.grounding.textnorm import find_urls

_IMAGE_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_HTML_RE = re.compile(
    r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|</?[A-Za-z][^>]*>", re.IGNORECASE | re.DOTALL
)


def url_key(url: str) -> str:
    return re.sub(r"^(?:https?://)?(?:www\.)?", "", url.lower()).rstrip("/")


def known_urls(sources: Sequence[str]) -> set[str]:
    return {url_key(u) for s in sources for u in find_urls(s)}


def has_external_url(text: str, sources: Sequence[str] = ()) -> bool:
    """Whether ``text`` contains a URL or web domain that none of ``sources`` contains."""
    known = known_urls(sources)
    return any(url_key(u) not in known for u in find_urls(text))


def strip_unsafe(text: str, sources: Sequence[str] = ()) -> str:
    """Remove markdown images, HTML tags and URLs not found in ``sources``; markdown links
    keep their text. Keeps the rest (and line breaks) as is."""
    known = known_urls(sources)
    text = _IMAGE_RE.sub("", text)
    text = _LINK_RE.sub(lambda m: m.group(1), text)
    text = _HTML_RE.sub("", text)
    for url in sorted(set(find_urls(text)), key=len, reverse=True):
        if url_key(url) not in known:
            text = text.replace(url, "")
    text = re.sub(r"[ \t]{2,}", " ", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()
