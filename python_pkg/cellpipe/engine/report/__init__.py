"""``cellpipe report``: one self-contained HTML file about a recorded run.

The sections (run and DAG, parameters, metrics across runs, checks, lineage of
the outputs, the executed steps' output notebooks) are gathered from the store
by :mod:`~cellpipe.engine.report.collect`, drawn by
:mod:`~cellpipe.engine.report.figures` (matplotlib, inline PNG) and rendered by
the Jinja template ``report.html.j2`` shipped in this package, with
autoescaping: every value from the user's notebooks and records is escaped.
Nothing in the file points outside it.
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
from cellpipe.errors import UsageError

__all__ = ["ReportResult", "build_report", "render_run", "run_context"]

TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote."""

    path: Path
    run: str
    steps: int
    figures: int
    notebooks: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "run": self.run, "steps": self.steps, "figures": self.figures,
                "notebooks": self.notebooks, "bytes": self.bytes}


def _latest_run(store: Any) -> dict[str, Any]:
    runs = store.db.runs(limit=1)
    if not runs:
        raise UsageError("the store has no runs yet; run the pipeline first: cellpipe run NOTEBOOK")
    return runs[0]


def run_context(store: Any, run_id: str | None = None, runs_limit: int = 30) -> dict[str, Any]:
    """Everything the template shows about one run (the newest when ``run_id`` is None)."""
    figures.require_matplotlib()
    run = history.settled(history.find_run(store, run_id) if run_id else _latest_run(store))
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
        "state_colours": figures.STATE_COLOURS,
        "pygments_css": notebooks.pygments_css(),
        "generated": collect.when(time.time()),
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


def render_run(context: dict[str, Any]) -> str:
    """The HTML page of a run's context (see :func:`run_context`)."""
    return str(_environment().get_template(TEMPLATE).render(**context))


def build_report(store: Any, output: Path, target: str | None = None, runs_limit: int = 30) -> ReportResult:
    """Write the report of run ``target`` (default: the newest run) to ``output``, atomically."""
    context = run_context(store, target, runs_limit=runs_limit)
    html = render_run(context)
    atomic_write_text(output, html)
    return ReportResult(
        path=output, run=context["run"]["id"], steps=len(context["run"]["steps"]),
        figures=sum(1 for f in context["figures"].values() if f),
        notebooks=sum(1 for n in context["notebooks"] if n["html"] is not None), bytes=len(html.encode("utf-8")),
    )
