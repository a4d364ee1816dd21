"""The report's figures, drawn with matplotlib and returned as ``data:`` URIs
(PNG, base64), so the HTML file needs nothing beside itself.

matplotlib is an optional dependency (``pip install 'cellpipe[report]'``);
:func:`require_matplotlib` says so when it is missing. Figures are built with
the object API (``matplotlib.figure.Figure``), never pyplot: no global state,
no display needed. Every label is drawn with ``parse_math=False`` so a ``$``
in a step or metric name stays text.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING, Any

from cellpipe.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: step state -> colour (the same family as the terminal's and the panel's)
STATE_COLOURS = {
    "done": "#2e7d32", "cached": "#81c784", "failed": "#c62828", "check_failed": "#ef6c00",
    "passed": "#2e7d32",
    "skipped": "#fbc02d", "interrupted": "#8e24aa", "running": "#0288d1", "pending": "#9e9e9e",
}


def require_matplotlib() -> None:
    """Raise a UsageError naming the fix when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise UsageError("cellpipe report draws its plots with matplotlib, which is not installed. "
                         "Fix: pip install 'cellpipe[report]'") from exc


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def data_uri(fig: Figure) -> str:
    """The figure as a PNG ``data:`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _colour(state: str) -> str:
    return STATE_COLOURS.get(state, "#607d8b")


def timeline(steps: list[dict[str, Any]]) -> str | None:
    """A Gantt chart of the steps' start and end times (seconds from the run's
    start), coloured by state; cached and skipped steps as a labelled mark at 0."""
    if not steps:
        return None
    fig = _figure(9, 0.45 * len(steps) + 1.2)
    ax = fig.add_subplot()
    names = [s["step"] for s in steps]
    end = max([(s["offset"] or 0) + (s["seconds"] or 0) for s in steps] + [1.0])
    for y, s in enumerate(steps):
        if s["offset"] is not None and s["seconds"] is not None:
            ax.barh(y, max(s["seconds"], end / 400), left=s["offset"], color=_colour(s["state"]), height=0.6)
            ax.text(s["offset"] + s["seconds"] + end / 100, y, f"{s['seconds']:.1f}s {s['state']}",
                    va="center", fontsize=8, parse_math=False)
        else:
            ax.plot([0], [y], marker="o", color=_colour(s["state"]))
            ax.text(end / 100, y, s["state"], va="center", fontsize=8, parse_math=False)
    ax.set_yticks(range(len(names)), labels=names)
    for label in ax.get_yticklabels():
        label.set_parse_math(False)
    ax.invert_yaxis()
    ax.set_xlim(0, end * 1.25)
    ax.set_xlabel("seconds since the run started")
    ax.grid(axis="x", alpha=0.3)
    return data_uri(fig)


def dag(steps: list[dict[str, Any]]) -> str | None:
    """The step graph left to right by level, each box coloured by its state."""
    if not steps:
        return None
    from matplotlib.patches import FancyArrowPatch

    by_level: dict[int, list[dict[str, Any]]] = {}
    for s in steps:
        by_level.setdefault(s["level"], []).append(s)
    pos: dict[str, tuple[float, float]] = {}
    tallest = max(len(v) for v in by_level.values())
    for level, members in by_level.items():
        for i, s in enumerate(members):
            pos[s["step"]] = (level * 3.0, (len(members) - 1) / 2 - i)
    width = 3.0 * (max(by_level) + 1)
    fig = _figure(min(16, 1.2 + width * 0.9), 0.9 * tallest + 1.0)
    ax = fig.add_subplot()
    for s in steps:
        x, y = pos[s["step"]]
        for dep in s["deps"]:
            if dep in pos:
                ax.add_patch(FancyArrowPatch(pos[dep], (x, y), arrowstyle="-|>", mutation_scale=12,
                                             shrinkA=38, shrinkB=38, color="#555555"))
    for s in steps:
        x, y = pos[s["step"]]
        timing = f"{s['seconds']:.1f}s" if s["seconds"] is not None else ""
        ax.text(x, y, f"{s['step']}\n{s['state']} {timing}".rstrip(), ha="center", va="center", fontsize=9,
                parse_math=False, color="white" if s["state"] in ("done", "failed", "interrupted") else "black",
                bbox={"boxstyle": "round,pad=0.5", "facecolor": _colour(s["state"]), "edgecolor": "#333333"})
    ax.set_xlim(-1.5, width - 1.5)
    ax.set_ylim(-tallest / 2 - 0.2, tallest / 2 + 0.2)
    ax.axis("off")
    return data_uri(fig)


def metric_plots(metrics: dict[str, Any], x_label: str = "run") -> str | None:
    """Each numeric metric across runs (or trials), the current one circled."""
    series = metrics["series"]
    if not series:
        return None
    from matplotlib.ticker import MaxNLocator

    cols = min(3, len(series))
    rows = math.ceil(len(series) / cols)
    fig = _figure(4 * cols, 2.6 * rows)
    for i, (name, points) in enumerate(series.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.plot(xs, ys, marker="o", markersize=4, color="#1565c0")
        for x, y in points:
            if x == metrics["current"]:
                ax.plot([x], [y], marker="o", markersize=11, markerfacecolor="none", color="#c62828")
        ax.set_title(name, fontsize=9, parse_math=False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return data_uri(fig)


def param_plots(data: dict[str, Any]) -> str | None:
    """A grid of metric-vs-parameter scatter plots over a sweep's trials (parameters
    across, metrics down); the best trial circled, infeasible trials hollow."""
    panels = data["panels"]
    if not panels or not any(p["points"] for p in panels):
        return None
    params = list(dict.fromkeys(p["param"] for p in panels))
    metrics = list(dict.fromkeys(p["metric"] for p in panels))
    fig = _figure(3.4 * len(params) + 0.6, 2.6 * len(metrics) + 0.4)
    for panel in panels:
        ax = fig.add_subplot(len(metrics), len(params), metrics.index(panel["metric"]) * len(params)
                             + params.index(panel["param"]) + 1)
        for p in panel["points"]:
            ax.plot([p["x"]], [p["y"]], marker="o", markersize=6, color="#1565c0",
                    markerfacecolor="#1565c0" if p["feasible"] else "none")
            if p["best"]:
                ax.plot([p["x"]], [p["y"]], marker="o", markersize=13, markerfacecolor="none", color="#c62828")
        if panel["integer"]:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if panel["categories"]:
            ax.set_xticks(range(len(panel["categories"])), labels=panel["categories"])
            for label in ax.get_xticklabels():
                label.set_parse_math(False)
        ax.set_xlabel(panel["param"], fontsize=8, parse_math=False)
        ax.set_ylabel(panel["metric"], fontsize=8, parse_math=False)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    return data_uri(fig)


def pareto(data: dict[str, Any] | None) -> str | None:
    """The trials on the first two objectives, the Pareto front joined and labelled by trial number."""
    if not data or not data["points"]:
        return None
    fig = _figure(6, 4.5)
    ax = fig.add_subplot()
    others = [p for p in data["points"] if not p["front"]]
    front = sorted((p for p in data["points"] if p["front"]), key=lambda p: (p["x"], p["y"]))
    ax.scatter([p["x"] for p in others], [p["y"] for p in others], color="#9e9e9e", label="dominated or infeasible")
    ax.plot([p["x"] for p in front], [p["y"] for p in front], marker="o", color="#c62828", label="Pareto front")
    for p in data["points"]:
        ax.annotate(f"#{p['number']}", (p["x"], p["y"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    x, y = data["x"], data["y"]
    ax.set_xlabel(f"{x['metric']} ({x['direction']})", parse_math=False)
    ax.set_ylabel(f"{y['metric']} ({y['direction']})", parse_math=False)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return data_uri(fig)
