"""Reproducibility: run a pipeline again without the cache and compare every
output (variables and files, by hash) and every metric with an earlier run.

A step whose outputs differ while all its inputs were the same is where the
difference comes from (``origin``): the report names the variable or file, the
size of the difference for numbers, arrays and frames (max abs diff), and the
likely cause read from its code (:mod:`cellpipe.core.nondeterminism`). Steps
after it differ because their inputs did; they are listed as following from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.core import cachekey
from cellpipe.core.nondeterminism import likely_causes
from cellpipe.engine.runstate import RunOptions, RunResult, StepStatus
from cellpipe.engine.store import Store
from cellpipe.engine.values import load_artifact
from cellpipe.model import Pipeline


@dataclass
class Difference:
    """One output or metric that is not the same in the two runs."""

    kind: str  # "variable", "file", "metric"
    name: str
    before: str | None  # a hash (variables, files) or the value (metrics), as text
    after: str | None
    #: max abs diff for numbers, arrays and frames; None when the values are not numeric
    size: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "before": self.before, "after": self.after,
                "max_abs_diff": self.size, "note": self.note}


@dataclass
class StepComparison:
    step: str
    differences: list[Difference] = field(default_factory=list)
    #: upstream steps whose outputs differ (empty: the difference starts here)
    upstream: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    within_tolerance: list[Difference] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "origin": not self.upstream, "upstream": self.upstream,
                "differences": [d.to_dict() for d in self.differences], "likely_causes": self.causes,
                "within_tolerance": [d.to_dict() for d in self.within_tolerance]}


@dataclass
class ReproReport:
    first: str
    second: str
    tolerance: float
    steps: list[StepComparison]
    compared: int
    #: steps not compared (the second run did not finish them), with why
    not_compared: dict[str, str] = field(default_factory=dict)

    @property
    def differing(self) -> list[StepComparison]:
        return [s for s in self.steps if s.differences]

    @property
    def reproduced(self) -> bool:
        return not self.differing and not self.not_compared

    def to_dict(self) -> dict[str, Any]:
        return {"first": self.first, "second": self.second, "tolerance": self.tolerance,
                "reproduced": self.reproduced, "compared_steps": self.compared,
                "differing_steps": [s.to_dict() for s in self.differing],
                "within_tolerance": [s.to_dict() for s in self.steps if not s.differences and s.within_tolerance],
                "not_compared": self.not_compared}


def rerun(pipeline: Pipeline, root: Path, store: Store, params: dict[str, dict[str, Any]], jobs: int = 0,
          argv: list[str] | None = None, on_change: Callable[[StepStatus], None] | None = None) -> RunResult:
    """Run every step again, without the cache, with these parameters."""
    from cellpipe.engine.runner import Runner

    options = RunOptions(params=params, jobs=jobs, force=True, argv=list(argv or []))
    return Runner(pipeline, root, store, options, on_change=on_change).run()


def max_abs_diff(a: Any, b: Any) -> float | None:
    """The largest absolute difference between two numbers, arrays or frames of
    the same shape (numeric columns); None when they cannot be compared so."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return None
    if hasattr(a, "select_dtypes") and hasattr(b, "select_dtypes"):  # DataFrames
        if list(a.columns) != list(b.columns) or a.shape != b.shape:
            return None
        a, b = a.select_dtypes("number").to_numpy(float), b.select_dtypes("number").to_numpy(float)
    elif hasattr(a, "to_numpy") and hasattr(b, "to_numpy"):  # Series
        a, b = a.to_numpy(), b.to_numpy()
    try:
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape or x.dtype == object or y.dtype == object:
            return None
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            return None
        if x.size == 0:
            return 0.0
        diff = np.abs(x.astype(float) - y.astype(float))
        both_nan = np.isnan(x.astype(float)) & np.isnan(y.astype(float))
        diff = np.where(both_nan, 0.0, diff)
        value = float(np.nanmax(diff)) if not np.isnan(diff).all() else math.inf
        return value if not np.isnan(diff).any() else math.inf
    except (TypeError, ValueError):
        return None


def _metric_diff(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b))
    return None


def compare(store: Store, pipeline: Pipeline, first: str, second: str, tolerance: float = 0.0) -> ReproReport:
    """Compare run ``second`` with run ``first``, step by step, in pipeline order."""
    arts = {run: _by_step(store.db.artifacts(run)) for run in (first, second)}
    mets: dict[str, dict[str, dict[str, Any]]] = {}
    for run in (first, second):
        for m in store.db.metrics(run):
            mets.setdefault(run, {}).setdefault(m["step"], {})[m["name"]] = m["value"]
    rows = {run: {r["step"]: r for r in store.db.step_runs(run)} for run in (first, second)}
    report = ReproReport(first, second, tolerance, [], 0)
    differing: set[str] = set()
    for step in pipeline.steps:
        a_row, b_row = rows[first].get(step.name), rows[second].get(step.name)
        if a_row is None or a_row["state"] not in ("done", "cached"):
            continue  # the first run has nothing to compare with
        if b_row is None or b_row["state"] not in ("done", "cached"):
            report.not_compared[step.name] = f"{(b_row or {}).get('state', 'not run')} in run {second}"
            continue
        report.compared += 1
        comp = StepComparison(step.name)
        a_arts, b_arts = arts[first].get(step.name, {}), arts[second].get(step.name, {})
        for key in sorted(set(a_arts) | set(b_arts)):
            kind, name = key
            a, b = a_arts.get(key), b_arts.get(key)
            if a is not None and b is not None and a["hash"] == b["hash"]:
                continue
            diff = Difference(kind, name, a["hash"][:12] if a else None, b["hash"][:12] if b else None)
            if a is None or b is None:
                diff.note = "only in run " + (second if a is None else first)
            elif kind == "variable":
                try:
                    diff.size = max_abs_diff(load_artifact(store, a["hash"], a.get("format")),
                                             load_artifact(store, b["hash"], b.get("format")))
                except Exception as exc:  # noqa: BLE001 - a value that cannot be loaded here is still a difference
                    diff.note = f"values not compared ({type(exc).__name__})"
            else:
                diff.note = f"{a.get('size')} -> {b.get('size')} bytes"
            _place(comp, diff, tolerance)
        a_m, b_m = mets.get(first, {}).get(step.name, {}), mets.get(second, {}).get(step.name, {})
        for name in sorted(set(a_m) | set(b_m)):
            if a_m.get(name) == b_m.get(name):
                continue
            diff = Difference("metric", name, repr(a_m.get(name)), repr(b_m.get(name)),
                              _metric_diff(a_m.get(name), b_m.get(name)))
            _place(comp, diff, tolerance)
        comp.upstream = [d for d in step.depends_on if d in differing]
        if comp.differences:
            differing.add(step.name)
            changed = cachekey.explain(a_row["parts"], b_row["parts"]) if a_row.get("parts") and b_row.get(
                "parts") else None
            if not comp.upstream and changed:  # not the same run again: the code or an input changed since
                comp.causes = [f"the step's inputs are not those of run {first}: {changed}"]
            elif not comp.upstream:
                comp.causes = [c.describe() for c in likely_causes(pipeline, step)] or [
                    "none found in the step's code: look for reads of changing files, the network, the "
                    "environment, or a library's own randomness (seed it)"]
        report.steps.append(comp)
    return report


def _place(comp: StepComparison, diff: Difference, tolerance: float) -> None:
    if diff.size is not None and diff.size <= tolerance and diff.note == "":
        comp.within_tolerance.append(diff)
    else:
        comp.differences.append(diff)


def _by_step(rows: list[dict[str, Any]]) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["step"], {})[(r["kind"], r["name"])] = r
    return out
