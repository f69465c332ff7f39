"""Results of an eval run, and the gate: every metric against evals/thresholds.toml.

A threshold is ``metric = {min = X, goal = Y}`` (higher is better) or ``{max = X, goal = Y}``
(lower is better) under the suite's table. A metric with a threshold is *gated*: the run fails
when it is below ``min`` / above ``max``, or when it has no value at all. Metrics without a
threshold are reported for information only. A threshold naming a metric the suite does not
produce fails too (a typo must not silently disable a gate). The one exception to "no value
fails": a metric the suite lists in ``info["unmeasured"]`` (its fixture split has no rows) is
reported ungated while it has no value.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from assistant.errors import EvalConfigError

THRESHOLDS_FILE = Path(__file__).resolve().parent / "thresholds.toml"


class Threshold(BaseModel):
    min: float | None = None
    max: float | None = None
    goal: float | None = None
    note: str = ""

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min or max")
        return self

    def passes(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.min is not None:
            return value >= self.min
        assert self.max is not None
        return value <= self.max

    def at_goal(self, value: float | None) -> bool | None:
        if value is None or self.goal is None:
            return None
        return value >= self.goal if self.min is not None else value <= self.goal

    @property
    def bound(self) -> str:
        return f"≥ {self.min:g}" if self.min is not None else f"≤ {self.max:g}"


def load_thresholds(path: Path = THRESHOLDS_FILE) -> dict[str, dict[str, Threshold]]:
    """``{suite: {metric: Threshold}}`` from a TOML file."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise EvalConfigError(f"cannot read the threshold file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise EvalConfigError(f"{path} is not valid TOML: {exc}") from exc
    out: dict[str, dict[str, Threshold]] = {}
    for suite, table in data.items():
        if not isinstance(table, dict):
            raise EvalConfigError(f"{path}: [{suite}] must be a table")
        try:
            out[suite] = {k: Threshold.model_validate(v) for k, v in table.items()}
        except ValueError as exc:
            raise EvalConfigError(f"{path}: [{suite}]: {exc}") from exc
    return out


class CaseResult(BaseModel):
    """One fixture through the pipeline: what was asked, what came out, and what went wrong."""

    suite: str
    id: str
    kind: str = ""
    question: str = ""  # the question, or the title for TL;DRs, or the sentence for the judge
    answer: str = ""
    abstained: bool | None = None
    citations: list[dict[str, str]] = Field(default_factory=list)  # title, paper_id, quote
    retrieved: list[str] = Field(default_factory=list)  # paper ids in rank order
    passed: bool = True
    why: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)


class MetricResult(BaseModel):
    suite: str
    name: str
    value: float | None
    gated: bool = False
    passed: bool | None = None  # None when not gated
    at_goal: bool | None = None
    threshold: Threshold | None = None
    help: str = ""


class SuiteResult(BaseModel):
    name: str
    seconds: float
    values: dict[str, float | None] = Field(default_factory=dict)
    help: dict[str, str] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)
    cases: list[CaseResult] = Field(default_factory=list)
    metrics: list[MetricResult] = Field(default_factory=list)

    @property
    def failing_cases(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]


class EvalResult(BaseModel):
    suites: list[SuiteResult]
    passed: bool = True
    seconds: float = 0.0
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def metrics(self) -> list[MetricResult]:
        return [m for s in self.suites for m in s.metrics]

    @property
    def failed_metrics(self) -> list[MetricResult]:
        return [m for m in self.metrics if m.gated and not m.passed]


def apply_gate(result: EvalResult, thresholds: dict[str, dict[str, Threshold]]) -> EvalResult:
    """Fill ``metrics`` of every suite from its values and the thresholds; set ``passed``."""
    for suite in result.suites:
        gates = thresholds.get(suite.name, {})
        unmeasured = set(suite.info.get("unmeasured", ()))
        metrics = []
        for name, value in suite.values.items():
            t = gates.get(name)
            skip = value is None and name in unmeasured
            gated = t is not None and not skip
            metrics.append(
                MetricResult(
                    suite=suite.name,
                    name=name,
                    value=value,
                    gated=gated,
                    passed=t.passes(value) if gated and t is not None else None,
                    at_goal=None if t is None else t.at_goal(value),
                    threshold=t,
                    help=suite.help.get(name, "") + (" (not measured: no rows)" if skip else ""),
                )
            )
        for name, t in gates.items():
            if name not in suite.values:
                metrics.append(
                    MetricResult(
                        suite=suite.name,
                        name=name,
                        value=None,
                        gated=True,
                        passed=False,
                        threshold=t,
                        help="threshold names a metric this suite does not produce",
                    )
                )
        suite.metrics = metrics
    result.passed = not result.failed_metrics
    return result
