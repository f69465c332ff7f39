"""Eval outputs: a Markdown report, a JSON dump and a PNG chart of metrics vs thresholds.

``write_reports(result, Path("out/report.md"))`` writes ``out/report.md``, ``out/report.json``
and ``out/report.png``. The Markdown has one table per suite (metric, value, threshold, goal,
status) and then every failing case with its question, answer and why it failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.gate import CaseResult, EvalResult, MetricResult, SuiteResult

MAX_ANSWER_CHARS = 600


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{value:.0f}"
    return f"{value:.3f}"


def status(m: MetricResult) -> str:
    if not m.gated:
        return "info"
    if not m.passed:
        return "**FAIL**"
    return "pass (goal met)" if m.at_goal else "pass"


def metric_table(suite: SuiteResult) -> list[str]:
    lines = [
        "| metric | value | threshold | goal | status | measures |",
        "|---|---:|---|---:|---|---|",
    ]
    for m in suite.metrics:
        t = m.threshold
        lines.append(
            f"| `{m.name}` | {fmt(m.value)} | {t.bound if t else ''} | "
            f"{fmt(t.goal) if t and t.goal is not None else ''} | {status(m)} | {m.help} |"
        )
    return lines


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ANSWER_CHARS else text[:MAX_ANSWER_CHARS] + " …"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def case_block(case: CaseResult) -> list[str]:
    label = {"qa": "Question", "tldr": "Paper", "judge": "Sentence"}.get(case.suite, "Input")
    out = [f"#### `{case.id}` ({case.kind})", "", f"- **{label}:** {_md_escape(case.question)}"]
    if case.suite == "qa":
        shown = "*(abstained)* " + case.answer if case.abstained else case.answer
        out.append(f"- **Answer:** {_md_escape(_clip(shown))}")
        for c in case.citations:
            out.append(f"  - [{c.get('marker', '')}] {c.get('title', '')}")
    elif case.suite == "tldr":
        out.append(f"- **TL;DR:** {_md_escape(case.answer)}")
    else:
        out.append(f"- **Source paper:** {case.answer}")
    out += [f"- **Why:** {_md_escape(w)}" for w in case.why] or ["- **Why:** (no reason recorded)"]
    out.append("")
    return out


def markdown(result: EvalResult, chart: str | None = None) -> str:
    meta = result.meta
    verdict = "PASS" if result.passed else "FAIL"
    lines = [
        "# Grounding eval report",
        "",
        f"**Result: {verdict}** — {len(result.failed_metrics)} gated metric(s) failing; "
        f"wall time {result.seconds:.1f} s.",
        "",
        f"- Started: {meta.get('started', '?')}; "
        f"suites: {', '.join(s.name for s in result.suites)}",
        f"- Model: `{meta.get('model', '—')}`; embedder: `{meta.get('embedder', '—')}`; "
        f"settings fingerprint `{meta.get('settings_fingerprint', '—')}`",
        f"- Corpus: {meta.get('papers', '?')} papers; time: "
        + "; ".join(
            ([f"ingest {meta['ingest_s']} s"] if "ingest_s" in meta else [])
            + [f"{s.name} {s.seconds:.1f} s" for s in result.suites]
        ),
        "",
    ]
    if result.failed_metrics:
        lines += ["Failing metrics:", ""]
        for m in result.failed_metrics:
            bound = m.threshold.bound if m.threshold else "?"
            lines.append(f"- `{m.suite}.{m.name}` = {fmt(m.value)} (needs {bound})")
        lines.append("")
    if chart:
        lines += [f"![metrics vs thresholds]({chart})", ""]
    for suite in result.suites:
        lines += [f"## Suite `{suite.name}` ({suite.seconds:.1f} s)", "", *metric_table(suite), ""]
    for suite in result.suites:
        failing = suite.failing_cases
        lines += [f"## Failing cases: `{suite.name}` ({len(failing)} of {len(suite.cases)})", ""]
        if not failing:
            lines += ["None.", ""]
        for case in failing:
            lines += case_block(case)
    return "\n".join(lines).rstrip() + "\n"


def to_json(result: EvalResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    data["failed_metrics"] = [f"{m.suite}.{m.name}" for m in result.failed_metrics]
    return data


def _chartable(m: MetricResult) -> bool:
    """Rates only (0..1); counts and seconds are in the table."""
    t = m.threshold
    bounds = [] if t is None else [b for b in (t.min, t.max, t.goal) if b is not None]
    return m.value is not None and 0.0 <= m.value <= 1.0 and all(0 <= b <= 1 for b in bounds)


def chart(result: EvalResult, path: Path) -> Path | None:
    """A horizontal bar per rate metric; black tick = min/max, green tick = goal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [m for m in result.metrics if _chartable(m) and not m.name.startswith("latency")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.2))
    labels = [f"{m.suite}.{m.name}" for m in rows]
    colors = ["#9e9e9e" if not m.gated else ("#2e7d32" if m.passed else "#c62828") for m in rows]
    ys = list(range(len(rows)))[::-1]
    ax.barh(ys, [m.value or 0.0 for m in rows], color=colors, height=0.6)
    for y, m in zip(ys, rows, strict=True):
        t = m.threshold
        if t is None:
            continue
        bound = t.min if t.min is not None else (t.max or 0.0)
        ax.plot([bound, bound], [y - 0.4, y + 0.4], color="black", linewidth=2)
        if t.goal is not None:
            ax.plot([t.goal, t.goal], [y - 0.4, y + 0.4], color="#1565c0", linewidth=2, ls=":")
    ax.set_yticks(ys, labels, fontsize=8)
    ax.set_xlim(0, 1.02)
    verdict = "PASS" if result.passed else "FAIL"
    ax.set_title(
        f"Eval {verdict}: green pass, red fail, grey info; black = min/max, blue dotted = goal",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(result: EvalResult, report: Path) -> dict[str, Path]:
    """Write ``report`` (Markdown) plus the ``.json`` and ``.png`` beside it."""
    report.parent.mkdir(parents=True, exist_ok=True)
    png = chart(result, report.with_suffix(".png"))
    report.write_text(markdown(result, png.name if png else None), "utf-8")
    json_path = report.with_suffix(".json")
    json_path.write_text(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n", "utf-8")
    out = {"markdown": report, "json": json_path}
    if png:
        out["png"] = png
    return out


def summary(result: EvalResult) -> str:
    """A plain-text metric table for the terminal."""
    lines = []
    for suite in result.suites:
        lines.append(f"[{suite.name}] {suite.seconds:.1f} s")
        for m in suite.metrics:
            bound = m.threshold.bound if m.threshold else ""
            mark = {"info": " ", "**FAIL**": "✗"}.get(status(m), "✓")
            lines.append(f"  {mark} {m.name:<30} {fmt(m.value):>8}  {bound}")
    lines.append(f"{'PASS' if result.passed else 'FAIL'} in {result.seconds:.1f} s")
    return "\n".join(lines)
