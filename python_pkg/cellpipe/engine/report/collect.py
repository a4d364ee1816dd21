"""What a report shows, read from the store: one function per section.

Each function takes the store (and the run) and returns plain data (dicts,
lists, strings, numbers) for the template; the figures are drawn by
:mod:`cellpipe.engine.report.figures` from the same data.
"""

from __future__ import annotations

import math
import time
from typing import Any

from cellpipe.core import graph
from cellpipe.engine import history
from cellpipe.engine.report import notebooks

#: step states whose output notebook this run wrote (the others were cached, skipped or never started)
EXECUTED_STATES = frozenset({"done", "failed", "check_failed", "interrupted"})


def when(ts: float | None) -> str:
    """A timestamp as local date and time (empty for none)."""
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def seconds(start: float | None, end: float | None) -> float | None:
    """The time between two timestamps, or None when one is missing."""
    return None if start is None or end is None else max(0.0, end - start)


def step_edges(steps: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Step -> the steps it depends on, as the run recorded them: the producers of
    its input variables and the steps that wrote the files it read."""
    file_producer: dict[str, str] = {}
    for s in steps:
        for path in ((s.get("parts") or {}).get("produces") or {}).get("files") or []:
            file_producer[path] = s["step"]
    names = {s["step"] for s in steps}
    deps: dict[str, tuple[str, ...]] = {}
    for s in steps:
        parts = s.get("parts") or {}
        found = set(((parts.get("where") or {}).get("producers") or {}).values())
        found |= {file_producer[p] for p in (parts.get("files") or {}) if p in file_producer}
        deps[s["step"]] = tuple(sorted(d for d in found if d in names and d != s["step"]))
    return deps


def run_section(store: Any, run: dict[str, Any]) -> dict[str, Any]:
    """The run's header, its steps (state, times, where from) and its DAG's edges and levels."""
    steps = history.settled_steps(run, store.db.step_runs(run["id"]))
    deps = step_edges(steps)
    order = [s["step"] for s in steps]
    try:
        level = graph.levels(order, deps)
    except ValueError:  # a cycle in records cannot happen in a valid run; draw it flat
        level = dict.fromkeys(order, 0)
    rows = []
    for s in sorted(steps, key=lambda s: (level.get(s["step"], 0), s.get("started") or 0.0, s["step"])):
        rows.append({
            "step": s["step"], "notebook": s["notebook"], "state": s["state"],
            "started": s.get("started"), "finished": s.get("finished"),
            "offset": seconds(run["started"], s.get("started")),
            "seconds": seconds(s.get("started"), s.get("finished")),
            "cached_from": s.get("cached_from"), "output_notebook": s.get("output_notebook"), "error": s.get("error"), "warnings": s.get("warnings") or [],
            "deps": list(deps.get(s["step"], ())), "level": level.get(s["step"], 0),
        })
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    env = run.get("env") or {}
    return {
        "id": run["id"], "pipeline": run["pipeline"], "state": run["state"], "root": run["root"],
        "notebooks": run.get("notebooks") or [], "argv": run.get("argv") or [],
        "started": when(run["started"]), "finished": when(run.get("finished")),
        "seconds": seconds(run["started"], run.get("finished")),
        "git_commit": run.get("git_commit"), "git_dirty": bool(run.get("git_dirty")),
        "python": env.get("python") or env.get("implementation"),
        "packages": sorted((env.get("packages") or {}).items()),
        "steps": rows, "counts": sorted(counts.items()),
    }


def params_section(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's parameters: one row per notebook and name."""
    return [{"notebook": nb, "name": name, "value": value}
            for nb, values in sorted((run.get("params") or {}).items()) for name, value in sorted(values.items())]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def metrics_section(store: Any, run: dict[str, Any], limit: int = 30) -> dict[str, Any]:
    """The run's metrics, and each numeric metric across the ``limit`` newest runs
    of the same pipeline (oldest first) for the plots."""
    values = {f"{m['step']}.{m['name']}": m["value"] for m in store.db.metrics(run["id"])}
    runs = [r for r in store.db.runs() if r["pipeline"] == run["pipeline"] and r["started"] <= run["started"]]
    runs = sorted(runs[:limit], key=lambda r: r["started"])
    series: dict[str, list[tuple[int, float]]] = {}
    for i, r in enumerate(runs):
        for m in store.db.metrics(r["id"]):
            number = _number(m["value"])
            key = f"{m['step']}.{m['name']}"
            if number is not None and key in values:
                series.setdefault(key, []).append((i, number))
    return {
        "rows": [{"name": k, "value": v} for k, v in sorted(values.items())],
        "runs": [r["id"] for r in runs],
        "current": next((i for i, r in enumerate(runs) if r["id"] == run["id"]), len(runs) - 1),
        "series": dict(sorted(series.items())),
    }


def checks_section(store: Any, run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every check the run's steps ran, passed or failed: from the step's record
    (schema 6; a ``check_failed`` step's error holds every check of the failing
    cell), else what its check cells published in their output notebooks (a cached
    step, a run recorded by an earlier cellpipe)."""
    out = []
    for row in store.db.step_runs(run["id"]):
        found = (row.get("checks") or (row.get("error") or {}).get("checks")
                 or notebooks.published_checks(store, run["id"], row))
        for c in found:
            out.append({"step": row["step"], "name": c.get("name", "check"), "passed": bool(c.get("passed")),
                        "message": c.get("message", ""), "cell": c.get("cell"),
                        "cached_from": row.get("cached_from")})
    return out


def lineage_section(store: Any, run: dict[str, Any]) -> list[dict[str, Any]]:
    """For each step that made outputs in this run: the outputs (name, kind, hash,
    size) and what made them (:func:`cellpipe.engine.history.lineage`)."""
    by_step: dict[str, list[dict[str, Any]]] = {}
    for art in store.db.artifacts(run["id"]):
        by_step.setdefault(art["step"], []).append(art)
    out = []
    for step, arts in by_step.items():
        info = history.lineage(store, run["id"], step)
        out.append({"step": step, "outputs": arts, **info})
    return out
