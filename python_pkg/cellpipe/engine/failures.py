"""A failed step, told in its source notebook's terms: the failing line of the
source cell and the traceback's last frames (for the terminal, ``--json``, the
store and the step's log), and the sentences for a step stopped by its time limit
or run again by its ``retry:`` tag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cellpipe.core.tracebacks import explain
from cellpipe.model import Pipeline


def failure_site(pipeline: Pipeline, output_notebook: str | None) -> dict[str, Any]:
    """``line``, ``code`` and ``traceback`` of the step's failure, read from its
    output notebook (nothing when there is none, or no error in it)."""
    if not output_notebook:
        return {}
    try:
        nb = json.loads(Path(output_notebook).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    originals = {(info.path, cell.index): cell.source for info in pipeline.notebooks for cell in info.cells}
    site = explain(nb, originals)
    if not site.traceback:
        return {}
    return site.to_dict()


def append_to_log(log: str | None, lines: list[str]) -> None:
    """Add ``lines`` (the traceback, the reason a step stopped) to the step's log file."""
    if not log or not lines:
        return
    try:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    except OSError:
        pass  # the log is evidence, not the result: the run goes on


def timeout_message(step: str, seconds: float, from_tag: bool) -> str:
    """Why a step that ran too long failed, and the fix."""
    source = "its 'timeout:' tag" if from_tag else "--timeout-step"
    return (f"step {step} ran longer than its time limit of {seconds:g} s ({source}) and was stopped; "
            "its kernel is shut down. Fix: make the step faster, or raise the limit "
            "(tag 'timeout:SECONDS' on a cell of the step, or --timeout-step SECONDS)")


def attempt_paths(run_folder: Path, step: str, attempt: int) -> tuple[Path, Path]:
    """The output notebook and log of one attempt: ``step.ipynb`` for the first,
    ``step.attempt2.ipynb`` and so on for the runs again of a ``retry:`` step."""
    stem = step if attempt <= 1 else f"{step}.attempt{attempt}"
    return run_folder / f"{stem}.ipynb", run_folder / f"{stem}.log"
