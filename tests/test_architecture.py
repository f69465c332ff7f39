"""The shape of the house, checked: no import cycles between modules or rooms, and each
third-party library imported only inside its one adapter (STYLE.md, "one room per seam").

Imports are read with ``ast`` (nothing is imported), including imports inside functions: a lazy
import is still a dependency. ``if TYPE_CHECKING:`` blocks are left out (they never run).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("assistant", "vectorstore", "ui", "evals", "prompts")

# library -> the modules (or package prefixes) allowed to import it
ADAPTERS: dict[str, tuple[str, ...]] = {
    "llama_cpp": ("assistant.llm.llama",),
    "chromadb": ("vectorstore.chroma", "vectorstore.importing"),
    "overrides": ("vectorstore.importing",),  # chromadb's decorator, skipped while it imports
    "gradio": ("ui.app",),
    "onnx": ("assistant.embedding.onnx_encoder",),
    "onnxruntime": ("assistant.embedding.onnx_encoder",),
    "tokenizers": ("assistant.embedding.minilm",),
    "bm25s": ("assistant.retrieve",),
    "langchain_text_splitters": ("assistant.ingest",),
    # the model server's client; chroma.py maps the transport errors chromadb's HTTP client
    # lets through
    "httpx": ("assistant.llm.openai_compat", "vectorstore.chroma"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            if "fixtures" in rel.parts:
                continue
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from pkg import sub`` -> pkg.sub)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard("__future__")
    return found


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = _modules()
    known = set(mods)
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in mods.items():
        imported = _imports(path, name, known)
        internal[name] = {m for m in imported if m in known and m != name}
        external[name] = {m.split(".")[0] for m in imported if m.split(".")[0] not in PACKAGES}
    return internal, external


def room(module: str) -> str:
    """A room: a module or subpackage directly under assistant/; any other package whole."""
    parts = module.split(".")
    if parts[0] == "assistant" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := dfs(node)):
            return found
    return None


def _room_graph(internal: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = defaultdict(set)
    for mod, deps in internal.items():
        for dep in deps:
            # the package __init__ of a room is its public face, not a dependency of its parts
            if room(dep) != room(mod) and dep != "assistant":
                rooms[room(mod)].add(room(dep))
    return rooms


def test_no_cycle_between_modules() -> None:
    internal, _ = _graph()
    # a package __init__ that re-exports its submodules is not a cycle with them
    edges = {
        m: {d for d in deps if not (d.startswith(m + ".") or m.startswith(d + "."))}
        for m, deps in internal.items()
    }
    assert _cycle(edges) is None, f"import cycle: {' -> '.join(_cycle(edges) or [])}"


def test_no_cycle_between_rooms() -> None:
    internal, _ = _graph()
    rooms = _room_graph(internal)
    assert _cycle(rooms) is None, f"room cycle: {' -> '.join(_cycle(rooms) or [])}"


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_library_imported_only_in_its_adapter(library: str) -> None:
    _, external = _graph()
    users = sorted(m for m, libs in external.items() if library in libs)
    assert users, f"no module imports {library}: is the table stale?"
    assert set(users) <= set(ADAPTERS[library]), f"{library} imported outside its adapter: {users}"


def test_core_types_against_the_store_protocol() -> None:
    internal, _ = _graph()
    # outside its own room, only the composition root names a store adapter
    users = sorted(
        m
        for m, deps in internal.items()
        if room(m) != "vectorstore" and any(d.startswith("vectorstore.") for d in deps)
    )
    assert users == ["assistant.service"], users


def test_checker_finds_a_planted_cycle() -> None:
    # the detector itself must be able to fail
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_modules_stay_small() -> None:
    # "~400 lines": the cap leaves room so a split follows a concern, not a count
    too_big = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert not too_big, too_big
