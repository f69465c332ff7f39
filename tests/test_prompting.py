"""Strict prompt rendering: missing and extra variables fail, system parts are fixed text."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from assistant import prompting
from assistant.prompting import (
    PromptError,
    render,
    reply_opener,
    split_system_user,
    template_hash,
    template_names,
    template_variables,
)

SHIPPED = {
    "answer": {"sources", "question"},
    "tldr": {"title", "abstract", "lead"},
    "rewrite": {"history", "question"},
}
OPENERS = {"tldr": "<lead-x> is"}  # templates whose reply starts with an opener


def _values(name: str, tag: str = "x") -> dict[str, str]:
    return {var: f"<{var}-{tag}>" for var in SHIPPED[name]}


def test_shipped_templates_are_the_expected_ones() -> None:
    assert set(SHIPPED) <= set(template_names())
    for name, variables in SHIPPED.items():
        assert template_variables(name) == variables


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_template_renders_with_exactly_its_variables(name: str) -> None:
    messages = split_system_user(name, **_values(name))
    roles = ["system", "user"] + (["assistant"] if name in OPENERS else [])
    assert [m["role"] for m in messages] == roles
    if name in OPENERS:
        assert messages[-1]["content"] == OPENERS[name]
        assert reply_opener(messages) == OPENERS[name]
    for var in SHIPPED[name]:
        assert f"<{var}-x>" in messages[1]["content"] or f"<{var}-x>" in messages[-1]["content"]
        assert f"<{var}-x>" not in messages[0]["content"]
    assert "---user---" not in messages[0]["content"] + messages[1]["content"]
    assert "{#" not in messages[0]["content"]  # comments render to nothing
    assert messages[0]["content"] == messages[0]["content"].strip()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_system_part_is_fixed_text(name: str) -> None:
    """Byte-identical system turns are what lets llama.cpp reuse the KV-cache prefix."""
    first = split_system_user(name, **_values(name, "a"))[0]["content"]
    second = split_system_user(name, **_values(name, "b" * 500))[0]["content"]
    assert first == second
    assert first  # every shipped template has a system part


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_missing_variable_fails_naming_template_and_variable(name: str) -> None:
    values = _values(name)
    dropped = sorted(values)[0]
    del values[dropped]
    with pytest.raises(PromptError) as info:
        split_system_user(name, **values)
    assert name in str(info.value) and dropped in str(info.value)
    assert "missing" in str(info.value)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_extra_variable_fails_naming_template_and_variable(name: str) -> None:
    with pytest.raises(PromptError) as info:
        render(name, **_values(name), surprise="boo")
    assert name in str(info.value) and "surprise" in str(info.value)
    assert "unexpected" in str(info.value)


def test_prompt_error_is_a_value_error() -> None:
    assert issubclass(PromptError, ValueError)


def test_render_joins_system_and_user() -> None:
    messages = split_system_user("tldr", title="T", abstract="A", lead="")
    assert render("tldr", title="T", abstract="A", lead="") == (
        messages[0]["content"] + "\n\n" + messages[1]["content"]
    )


def test_values_are_not_evaluated_as_templates() -> None:
    user = split_system_user("tldr", title="{{ 7*7 }}", abstract="{% raw %}", lead="")[1]["content"]
    assert "{{ 7*7 }}" in user and "{% raw %}" in user and "49" not in user


def test_template_hash_is_stable_and_matches_file_bytes() -> None:
    for name in SHIPPED:
        raw = resources.files("prompts").joinpath(f"{name}.md").read_bytes()
        assert template_hash(name) == hashlib.sha256(raw).hexdigest()[:12]
        prompting.clear_cache()
        assert template_hash(name) == template_hash(name)
    assert len({template_hash(n) for n in SHIPPED}) == len(SHIPPED)


@pytest.mark.parametrize("name", ["missing-template", "../answer", "answer.md", "", "A"])
def test_unknown_or_unsafe_names_fail(name: str) -> None:
    with pytest.raises(PromptError):
        template_hash(name)


def test_variables_in_system_part_are_rejected() -> None:
    with pytest.raises(PromptError, match="system part must be fixed text"):
        prompting._parse("bad", b"Hello {{ user }}\n---user---\n{{ question }}\n")


def test_the_opener_follows_the_user_part_and_may_use_variables() -> None:
    parsed = prompting._parse("o", b"sys\n---user---\n{{ q }}\n---assistant---\n{{ n }} is\n")
    assert parsed.variables == {"q", "n"}
    assert prompting._render_parsed(parsed, {"q": "x", "n": "Cappy"}) == ("sys", "x")
    assert prompting._render_opener(parsed, {"q": "x", "n": "Cappy"}) == "Cappy is"
    messages = split_system_user("tldr", title="T", abstract="A", lead="")
    assert reply_opener(messages) == "This paper"  # no name: the generic opener
    with pytest.raises(PromptError, match="more than one '---assistant---'"):
        prompting._parse("o", b"s\n---user---\nu\n---assistant---\na\n---assistant---\nb\n")
    assert reply_opener([{"role": "user", "content": "u"}]) == ""


def test_two_separators_are_rejected() -> None:
    with pytest.raises(PromptError, match="more than one"):
        prompting._parse("bad", b"s\n---user---\nu\n---user---\nv\n")


def test_template_without_separator_is_user_only() -> None:
    parsed = prompting._parse("plain", b"Just {{ thing }}.\n")
    assert prompting._render_parsed(parsed, {"thing": "this"}) == ("", "Just this.")


def test_syntax_error_is_a_prompt_error() -> None:
    with pytest.raises(PromptError, match="invalid"):
        prompting._parse("broken", b"sys\n---user---\n{{ oops \n")


def test_templates_are_sandboxed() -> None:
    parsed = prompting._parse("evil", b"sys\n---user---\n{{ x.__class__.__mro__ }}\n")
    with pytest.raises(PromptError, match="failed to render"):
        prompting._render_parsed(parsed, {"x": "text"})


def test_variables_used_only_in_a_branch_are_still_required() -> None:
    parsed = prompting._parse("branch", b"s\n---user---\n{% if a %}{{ b }}{% endif %}\n")
    with pytest.raises(PromptError, match="'b'"):
        prompting._render_parsed(parsed, {"a": False})
    assert prompting._render_parsed(parsed, {"a": False, "b": 1}) == ("s", "")
