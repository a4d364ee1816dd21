"""``cellpipe report [RUN|SWEEP] -o report.html``: a run's or a sweep's self-contained HTML report.

(Not to be confused with :mod:`cellpipe.cli.report`, the terminal output of
``show`` and ``runs``.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report of RUN or SWEEP (default: the newest run) and say where."""
    from cellpipe.cli.main import EXIT_OK, _open_store
    from cellpipe.engine.report import build_report

    store = _open_store(args)
    try:
        result = build_report(store, Path(args.output), args.run, runs_limit=args.runs)
    finally:
        store.close()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        what = (f"sweep {result.id}, {result.trials} trials" if result.kind == "sweep" else
                f"run {result.id}, {result.steps} steps, {result.notebooks} output notebooks")
        print(f"wrote {result.path} ({result.bytes / 1024:.0f} KiB): {what}, {result.figures} plots")
    return EXIT_OK


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``report`` on the ``cellpipe`` command's subparsers."""
    from cellpipe.cli.main import _positive_int

    p = sub.add_parser("report", parents=parents,
                       help="write a self-contained HTML report of a run (DAG, timeline, metrics, lineage, "
                       "notebooks) or of a sweep (trials, plots, Pareto front)")
    p.add_argument("run", nargs="?", metavar="RUN|SWEEP",
                   help="a run or sweep id, or a unique prefix (default: the newest run)")
    p.add_argument("-o", "--output", default="report.html", metavar="FILE",
                   help="the HTML file to write (default: report.html)")
    p.add_argument("--runs", type=_positive_int, default=30, metavar="N",
                   help="plot metrics across the N newest runs of the pipeline (default: 30)")
    p.set_defaults(func=cmd_report)
