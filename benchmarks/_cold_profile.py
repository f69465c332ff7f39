"""Profile one cold CLI run: a timeline of its phases (per thread) and cProfile's top functions.

    python benchmarks/_cold_profile.py [--timeline-only] OUT.json ask --draft QUESTION

Runs ``assistant <args>`` in this (new) process. Every thread, the main one and each one the
assistant starts, runs under its own ``cProfile.Profile``; the stats are merged. The phases are
the functions of :data:`PHASES` (each wrapped to record when it starts and ends, and in which
thread) plus the first model token and the first sentence shown. The profiler slows Python
code (imports most), so the timeline's absolute times are above an unprofiled run's; for those,
``ask_latency.py`` times the plain command; ``--timeline-only`` records the phases without
cProfile. Used by ``ask_latency.py --profile``.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import cProfile  # noqa: E402
import functools  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.machinery  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

# (module, attribute path, label): wrapped when present, so the list spans code versions
PHASES = [
    ("assistant.service", "", "(answers watched)"),
    ("assistant.service", "Assistant.__init__", "Assistant()"),
    ("assistant.service", "store_backend", "store backend"),
    ("assistant.service", "Assistant.preload_model", "preload_model()"),
    ("assistant.library", "Library.__init__", "library open"),
    ("vectorstore.chroma", "chromadb_version", "chromadb version"),
    ("vectorstore.chroma", "ChromaBackend.open", "store open"),
    ("assistant.llm.llama", "LocalLLM.load", "model load"),
    ("assistant.llm.files", "verify_model", "model hash"),
    ("assistant.llm.llama", "LocalLLM.runtime_file", "model runtime file"),
    ("llama_cpp.llama", "Llama.__init__", "llama.cpp Llama()"),
    ("assistant.llm.llama", "LocalLLM._setup_template", "model chat template"),
    ("assistant.llm.llama", "LocalLLM.warm_prefix", "model prefix warm-up"),
    ("assistant.embedding.minilm", "MiniLMEmbedder.__init__", "embedder create"),
    ("assistant.retrieve", "_KeywordIndex.__init__", "keyword index build"),
    ("assistant.retrieve", "Retriever.search", "search"),
    ("assistant.answer", "gather", "gather"),
    ("assistant.answer", "build_prompt", "prompt build"),
    ("assistant.llm.llama", "LocalLLM.generate", "generate"),
]

marks: list[tuple[float, str, str]] = []
_marks_lock = threading.Lock()


def mark(what: str) -> None:
    with _marks_lock:
        marks.append((time.perf_counter() - T0, threading.current_thread().name, what))


def _wrap(owner: Any, attr: str, label: str) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(f"{label} start")
        try:
            return original(*args, **kwargs)
        finally:
            mark(f"{label} end")

    setattr(owner, attr, wrapper)


def _install(module: Any) -> None:
    for name, path, label in PHASES:
        if name != module.__name__:
            continue
        if not path:
            _watch_answers(module)
            continue
        owner: Any = module
        *parents, attr = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        if owner is not None and hasattr(owner, attr):
            _wrap(owner, attr, label)


class _PhaseFinder(importlib.abc.MetaPathFinder):
    """Wraps a module's phase functions right after the module is first imported, so the
    profiled run imports everything when and where it normally would."""

    names = {name for name, _, _ in PHASES}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        exec_module = loader.exec_module

        def exec_and_wrap(module: Any) -> None:
            exec_module(module)
            _install(module)

        loader.exec_module = exec_and_wrap
        return spec


def _watch_answers(service: Any) -> None:
    ask = service.Assistant.ask

    def watched(self: Any, question: str, **kw: Any) -> Any:
        on_token, on_sentence = kw.get("on_token"), kw.get("on_sentence")
        first: list[str] = []

        def token(piece: str) -> None:
            if "token" not in first:
                first.append("token")
                mark("FIRST TOKEN")
            if on_token:
                on_token(piece)

        def sentence(text: str) -> None:
            if "sentence" not in first:
                first.append("sentence")
                mark("FIRST SENTENCE SHOWN")
            if on_sentence:
                on_sentence(text)

        kw["on_token"], kw["on_sentence"] = token, sentence
        return ask(self, question, **kw)

    service.Assistant.ask = watched  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    timeline_only = argv[:1] == ["--timeline-only"]
    if timeline_only:
        argv = argv[1:]
    out, args = argv[0], argv[1:]
    profiles: list[cProfile.Profile] = []
    run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        profiles.append(prof)
        prof.enable()
        try:
            run(self)
        finally:
            prof.disable()

    main_prof = cProfile.Profile()
    if not timeline_only:
        threading.Thread.run = profiled_run  # type: ignore[method-assign]
        profiles.append(main_prof)
        main_prof.enable()
    sys.meta_path.insert(0, _PhaseFinder())
    import assistant.cli

    mark("import assistant.cli")
    try:
        code = assistant.cli.main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    mark("end")
    main_prof.disable()
    rows = []
    if not timeline_only:
        stats = pstats.Stats(main_prof)
        for prof in profiles[1:]:
            stats.add(prof)
        for (file, line, func), (_, calls, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append(
                {"function": f"{file}:{line}({func})", "calls": calls, "own_s": own, "cum_s": cum}
            )
    report = {
        "argv": args,
        "returncode": code,
        "timeline": [{"t_s": round(t, 3), "thread": th, "event": e} for t, th, e in marks],
        "by_own_time": sorted(rows, key=lambda r: -r["own_s"])[:40],
        "by_cumulative_time": sorted(rows, key=lambda r: -r["cum_s"])[:60],
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
