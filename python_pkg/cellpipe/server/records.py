"""Reading the store's run records into wire dicts. Each notebook's store is
its project's, found by the CLI's own rule (:func:`cellpipe.engine.project.find_root`:
the nearest folder upward with a ``.cellpipe/``, a ``pyproject.toml`` with
``[tool.cellpipe]`` or a ``.git``, else the notebook's folder), or
``CELLPIPE_STORE`` when set; read-only questions never create it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cellpipe.engine.history import run_alive
from cellpipe.engine.project import find_root, project_root_of
from cellpipe.engine.store import STORE_ENV, Store, locate_store
from cellpipe.model import Pipeline, RunState, StepState
from cellpipe.server.paths import root_relative_or_none
from cellpipe.server.wire import IRunRecord, IStepLastRun, IStepRun

#: step states that a run left behind when its process died
UNFINISHED = (StepState.RUNNING, StepState.PENDING)


def project_root(file: Path) -> Path:
    """The project root of a notebook file: the same rule as ``cellpipe run``."""
    return find_root([file])


def default_project(root: Path) -> Path:
    """The project of the server's root folder itself (for questions that name no notebook)."""
    return project_root_of(root) or root.resolve()


def store_folder(project: Path) -> Path:
    """The local folder of the project's store metadata (and its lock)."""
    return locate_store(project)[0]


def store_location(project: Path) -> str:
    """The store a run started by the server uses: ``$CELLPIPE_STORE``, else the project's."""
    return os.environ.get(STORE_ENV) or str(store_folder(project))


@contextmanager
def open_store(project: Path) -> Iterator[Store | None]:
    """The project's store opened read-only, or None when nothing has run there yet."""
    folder, storage = locate_store(project)
    if not (folder / "cellpipe.db").exists():
        yield None
        return
    store = Store(folder, storage, readonly=True)
    if store.db.conn.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone() is None:
        store.close()  # the first run is creating the store at this moment
        yield None
        return
    try:
        yield store
    finally:
        store.close()


def run_state(run: dict[str, Any], alive: Callable[[dict[str, Any]], bool] = run_alive) -> RunState:
    """The run's state; a run whose process is gone while its record says
    ``running`` was killed without cleaning up: it is ``interrupted``."""
    if run["state"] == RunState.RUNNING and not alive(run):
        return RunState.INTERRUPTED
    return RunState(run["state"])


def run_record(run: dict[str, Any], metrics: list[dict[str, Any]], state: str | None = None) -> IRunRecord:
    """A run's record on the wire; ``state`` when it differs from the stored one."""
    return {
        "id": run["id"],
        "pipeline": run.get("pipeline"),
        "state": RunState(state or run["state"]),
        "started": run.get("started"),
        "finished": run.get("finished"),
        "params": run.get("params") or {},
        "metrics": [{"step": m["step"], "name": m["name"], "value": m["value"]} for m in metrics],
        "git_commit": run.get("git_commit"),
        "notebooks": run.get("notebooks") or [],
        "error": None,
    }


def step_state(row: dict[str, Any], run_state: str) -> StepState:
    """A step's state; one left unfinished by a run that is no longer going was interrupted."""
    if row["state"] in UNFINISHED and run_state not in (RunState.RUNNING, RunState.STARTING):
        return StepState.INTERRUPTED
    return StepState(row["state"])


def step_run(row: dict[str, Any], root: Path, run_state: str, now: float | None = None) -> IStepRun:
    state = step_state(row, run_state)
    started, finished = row.get("started"), row.get("finished")
    seconds = None
    if started is not None:
        end = finished if finished is not None else (now or time.time()) if state == StepState.RUNNING else None
        seconds = None if end is None else round(end - started, 3)
    return {
        "step": row["step"],
        "notebook": row["notebook"],
        "state": state,
        "started": started,
        "finished": finished,
        "seconds": seconds,
        "error": row.get("error"),
        "output_notebook": root_relative_or_none(row.get("output_notebook"), root),
        "cached_from": row.get("cached_from"),
        "warnings": row.get("warnings") or [],
    }


def with_origins(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Step rows where a cached step's ``output_notebook`` is that of the run that
    executed it (``cached_from``): the notebook that made the values it reused. (The
    run folder holds a copy too; a step cached from a twin step of the same run
    keeps that copy, whose cells are its own.)"""
    out = []
    for row in rows:
        if row.get("cached_from"):
            origin = next((r for r in store.db.step_runs(row["cached_from"]) if r["step"] == row["step"]), None)
            if origin is not None and origin.get("output_notebook") and not origin.get("cached_from"):
                row = {**row, "output_notebook": origin.get("output_notebook")}
        out.append(row)
    return out


def last_states(store: Store, pipeline: Pipeline, root: Path, lookback: int = 50) -> dict[str, IStepLastRun]:
    """Each step's state in the latest run that included it.

    A step is matched by name
    *and* notebook: the server's store is shared by every notebook under the
    root, and two notebooks may both have a step called ``load``.
    """
    wanted = {s.name: s.notebook for s in pipeline.steps}
    states: dict[str, IStepLastRun] = {}
    for run in store.db.runs(limit=lookback):
        state = run_state(run)
        for row in with_origins(store, store.db.step_runs(run["id"])):
            name = row["step"]
            if wanted.get(name) == row["notebook"] and name not in states:
                states[name] = {
                    "state": step_state(row, state),
                    "run_id": run["id"],
                    "error": row.get("error"),
                    "output_notebook": root_relative_or_none(row.get("output_notebook"), root),
                }
        if len(states) == len(wanted):
            break
    return states

