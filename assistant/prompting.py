"""Strict, sandboxed rendering of the prompt templates in the ``prompts`` package.

Template files
--------------
Each prompt is a Markdown file ``prompts/<name>.md`` shipped as package data. A file holds a
**system part** and a **user part**, separated by a line that is exactly::

    ---user---

* The system part is FIXED text: it may not use any variable (loading fails if it does). Being
  byte-identical on every call, the templated system turn forms a shared token prefix, and
  llama-cpp-python reuses the KV cache of that prefix instead of re-processing it.
* Variables (``{{ name }}``) appear only in the user part. Keep both parts short: prompt
  processing (~190 tok/s on the default model) dominates latency.
* Jinja comments (``{# ... #}``) may document a file; they render to nothing. Each part is
  stripped of leading and trailing whitespace after rendering.
* A file without the separator is a single user part with an empty system part.
* An optional last part after a line ``---assistant---`` OPENS the model's reply ("This
  paper", "Cappy is"): the model continues it instead of starting its reply freely. A small
  model that starts on its own tends to describe the abstract ("The abstract is a concise
  summary...") instead of the paper; an opener steers it to the contribution. It may use
  variables (checked like the user part's) and becomes a trailing ``assistant`` message, which
  :class:`assistant.llm.llama.LocalLLM` continues. Empty once rendered: no opener.

Rendering is strict both ways: a variable the template uses but the caller did not pass, and a
variable the caller passed but the template does not use, both raise :class:`PromptError`
(a ``ValueError``). Templates run in Jinja's sandbox, autoescaping off (prompts are not HTML).

API: :func:`render`, :func:`split_system_user`, :func:`template_hash`, :func:`template_names`,
:func:`template_variables`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from assistant.errors import PromptError
from assistant.protocols import Message

SEPARATOR = "---user---"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SEP_RE = re.compile(r"^---user---[ \t]*$", re.MULTILINE)
_OPENER_RE = re.compile(r"^---assistant---[ \t]*$", re.MULTILINE)

_env = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
)


@dataclass(frozen=True)
class _Parsed:
    name: str
    digest: str
    system: Template
    user: Template
    variables: frozenset[str]
    opener: Template | None = None


_cache: dict[str, _Parsed] = {}
_cache_lock = threading.Lock()


def _read(name: str) -> bytes:
    if not _NAME_RE.match(name):
        raise PromptError(f"invalid prompt template name {name!r}")
    entry = resources.files("prompts").joinpath(f"{name}.md")
    if not entry.is_file():
        raise PromptError(f"no prompt template {name!r} (looked for prompts/{name}.md)")
    return entry.read_bytes()


def _variables(source: str, name: str, part: str) -> frozenset[str]:
    try:
        ast = _env.parse(source)
    except TemplateError as exc:
        raise PromptError(f"prompt template {name!r} ({part} part) is invalid: {exc}") from exc
    return frozenset(meta.find_undeclared_variables(ast))


def _parse(name: str, raw: bytes) -> _Parsed:
    """Split and compile one template file's bytes (no caching)."""
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptError(f"prompt template {name!r} is not UTF-8: {exc}") from exc
    body_opener = _OPENER_RE.split(source)
    if len(body_opener) > 2:
        raise PromptError(f"prompt template {name!r} has more than one '---assistant---' line")
    opener_src = body_opener[1] if len(body_opener) == 2 else ""
    opener_vars = _variables(opener_src, name, "assistant") if opener_src else frozenset()
    source = body_opener[0]
    parts = _SEP_RE.split(source)
    if len(parts) > 2:
        raise PromptError(f"prompt template {name!r} has more than one {SEPARATOR!r} line")
    system_src, user_src = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    system_vars = _variables(system_src, name, "system")
    if system_vars:
        raise PromptError(
            f"prompt template {name!r}: the system part must be fixed text, "
            f"but it uses variables {sorted(system_vars)}"
        )
    user_vars = _variables(user_src, name, "user")
    return _Parsed(
        name=name,
        digest=hashlib.sha256(raw).hexdigest()[:12],
        system=_env.from_string(system_src),
        user=_env.from_string(user_src),
        variables=user_vars | opener_vars,
        opener=_env.from_string(opener_src) if opener_src.strip() else None,
    )


def _load(name: str) -> _Parsed:
    with _cache_lock:
        cached = _cache.get(name)
    if cached is not None:
        return cached
    parsed = _parse(name, _read(name))
    with _cache_lock:
        _cache[name] = parsed
    return parsed


def clear_cache() -> None:
    """Forget parsed templates (they are cached per process)."""
    with _cache_lock:
        _cache.clear()


def _check(parsed: _Parsed, given: dict[str, Any]) -> None:
    missing = sorted(parsed.variables - given.keys())
    extra = sorted(given.keys() - parsed.variables)
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing variables {missing}")
        if extra:
            problems.append(f"unexpected variables {extra}")
        raise PromptError(
            f"prompt template {parsed.name!r}: {'; '.join(problems)} "
            f"(it takes exactly {sorted(parsed.variables)})"
        )


def _render_parsed(parsed: _Parsed, variables: dict[str, Any]) -> tuple[str, str]:
    _check(parsed, variables)
    try:
        system = parsed.system.render().strip()
        user = parsed.user.render(**variables).strip()
    except TemplateError as exc:
        raise PromptError(f"prompt template {parsed.name!r} failed to render: {exc}") from exc
    return system, user


def _render_parts(name: str, variables: dict[str, Any]) -> tuple[str, str]:
    return _render_parsed(_load(name), variables)


def split_system_user(name: str, **variables: Any) -> list[Message]:
    """Chat messages for template ``name``: a fixed system turn (if any), the user turn, and
    the opener of the reply as a trailing assistant turn (if the template has one)."""
    parsed = _load(name)
    system, user = _render_parsed(parsed, variables)
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    opener = _render_opener(parsed, variables)
    if opener:
        messages.append({"role": "assistant", "content": opener})
    return messages


def _render_opener(parsed: _Parsed, variables: dict[str, Any]) -> str:
    if parsed.opener is None:
        return ""
    try:
        return parsed.opener.render(**variables).strip()
    except TemplateError as exc:
        raise PromptError(f"prompt template {parsed.name!r} failed to render: {exc}") from exc


def reply_opener(messages: list[Message]) -> str:
    """The opener the model is asked to continue (a trailing assistant turn), or ''."""
    return messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else ""


def render(name: str, **variables: Any) -> str:
    """The whole prompt as one string: system part, a blank line, then the user part.

    For raw-completion use (benchmarks, models without a chat template); chat callers want
    :func:`split_system_user`.
    """
    system, user = _render_parts(name, variables)
    return f"{system}\n\n{user}" if system else user


def template_hash(name: str) -> str:
    """First 12 hex digits of the sha256 of the template file's bytes (for provenance)."""
    return _load(name).digest


def template_variables(name: str) -> frozenset[str]:
    """The variables template ``name`` takes (all of them in its user part)."""
    return _load(name).variables


def template_names() -> list[str]:
    """Names of every shipped template, sorted."""
    root = resources.files("prompts")
    return sorted(
        entry.name[: -len(".md")]
        for entry in root.iterdir()
        if entry.name.endswith(".md") and entry.is_file()
    )
