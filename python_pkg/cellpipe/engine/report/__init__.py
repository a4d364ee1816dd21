"""``cellpipe report``: one self-contained HTML file about a recorded run or sweep.

A run's sections (run and DAG, timeline, parameters, metrics across runs,
checks, lineage of the outputs, the executed steps' output notebooks) are
gathered from the store by :mod:`~cellpipe.engine.report.collect`; a sweep's
(trials, best trial, metrics against parameters, Pareto front, cache savings)
by :mod:`~cellpipe.engine.report.sweep`. Figures are drawn by
:mod:`~cellpipe.engine.report.figures` (matplotlib, inline PNG) and pages
rendered by the Jinja templates shipped in this package (``run.html.j2``,
``sweep.html.j2`` on ``base.html.j2``), with autoescaping: every value from the
user's notebooks and records is escaped. Nothing in the file points outside it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellpipe.engine import history
from cellpipe.engine.fileutil import atomic_write_text
from cellpipe.engine.report import collect, figures, notebooks
from cellpipe.engine.report import sweep as sweeps

__all__ = ["ReportResult", "build_report", "render", "run_context", "sweep_context"]


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote: a run's report or a sweep's."""

    path: Path
    kind: str  # "run" or "sweep"
    id: str
    steps: int
    trials: int
    figures: int
    notebooks: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "id": self.id, "steps": self.steps,
                "trials": self.trials, "figures": self.figures, "notebooks": self.notebooks, "bytes": self.bytes}


def _common() -> dict[str, Any]:
    return {"state_colours": figures.STATE_COLOURS, "pygments_css": notebooks.pygments_css(),
            "generated": collect.when(time.time())}


def run_context(store: Any, run: dict[str, Any], runs_limit: int = 30) -> dict[str, Any]:
    """Everything the run template shows about one run."""
    figures.require_matplotlib()
    run = history.settled(run)
    section = collect.run_section(store, run)
    metrics = collect.metrics_section(store, run, limit=runs_limit)
    executed = []
    for step in section["steps"]:
        if step["state"] in collect.EXECUTED_STATES:
            html, why = notebooks.to_html(store, run["id"], step)
            executed.append({"step": step["step"], "state": step["state"], "html": html, "missing": why})
    return {
        "title": f"cellpipe report: {run['pipeline']} run {run['id']}",
        "run": section,
        "trial": sweeps.trial_of(store, run["id"]),
        "params": collect.params_section(run),
        "metrics": metrics,
        "checks": collect.checks_section(store, run),
        "lineage": collect.lineage_section(store, run),
        "notebooks": executed,
        "figures": {
            "dag": figures.dag(section["steps"]),
            "timeline": figures.timeline(section["steps"]),
            "metrics": figures.metric_plots(metrics),
        },
        **_common(),
    }


def sweep_context(store: Any, sweep: dict[str, Any]) -> dict[str, Any]:
    """Everything the sweep template shows about one sweep."""
    figures.require_matplotlib()
    section = sweeps.sweep_section(store, sweep)
    return {
        "title": f"cellpipe report: sweep {sweep['id']}",
        "sweep": section,
        "figures": {
            "params": figures.param_plots(sweeps.param_plot_data(section)),
            "pareto": figures.pareto(sweeps.pareto_data(section)),
        },
        **_common(),
    }


def pretty(value: Any) -> str:
    """A recorded value as JSON text: indented for a mapping or a list, one line otherwise."""
    indent = 2 if isinstance(value, (dict, list)) else None
    return json.dumps(value, indent=indent, default=str, ensure_ascii=False)


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cellpipe.engine.report", "."),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["pretty"] = pretty
    return env


def render(template: str, context: dict[str, Any]) -> str:
    """The HTML page of a context (``run.html.j2`` with :func:`run_context`,
    ``sweep.html.j2`` with :func:`sweep_context`)."""
    return str(_environment().get_template(template).render(**context))


def build_report(store: Any, output: Path, target: str | None = None, runs_limit: int = 30) -> ReportResult:
    """Write the report of ``target`` (a run or a sweep id, or a unique prefix; default:
    the newest run) to ``output``, atomically."""
    kind, record = sweeps.find_target(store, target)
    if kind == "sweep":
        context = sweep_context(store, record)
        html = render("sweep.html.j2", context)
        steps, trials, shown = 0, len(context["sweep"]["trials"]), 0
    else:
        context = run_context(store, record, runs_limit=runs_limit)
        html = render("run.html.j2", context)
        steps, trials = len(context["run"]["steps"]), 0
        shown = sum(1 for n in context["notebooks"] if n["html"] is not None)
    atomic_write_text(output, html)
    return ReportResult(path=output, kind=kind, id=record["id"], steps=steps, trials=trials,
                        figures=sum(1 for f in context["figures"].values() if f), notebooks=shown,
                        bytes=len(html.encode("utf-8")))
