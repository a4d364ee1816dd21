"""Runs live outside the server process: the server validates a request, starts
the run through the engine's launcher (:mod:`cellpipe.engine.launch`, a process
in a session of its own), keeps the process in a registry, and answers questions
by reading the store the run writes as it goes.

Cancelling sends SIGINT to the run's process group; the run then records itself
``interrupted``, stops its kernels and exits 130.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.core.overrides import resolve
from cellpipe.engine.history import run_alive, run_diff
from cellpipe.engine.launch import LaunchRequest, spawn
from cellpipe.engine.project import rel as project_relative
from cellpipe.engine.runner import new_run_id, select
from cellpipe.engine.store import Store, StoreBusy
from cellpipe.errors import CellpipeError
from cellpipe.model import RunState
from cellpipe.server.notebooks import load_pipeline
from cellpipe.server.paths import NotFound, confine, relative
from cellpipe.server.records import (
    default_project,
    open_store,
    project_root,
    run_record,
    run_state,
    step_run,
    store_folder,
    store_location,
    with_origins,
)
from cellpipe.server.wire import IActiveRun, IRunDetail, IRunRecord, IRunsResponse, IStepNotebook

#: how much of a failed start's log the run record quotes
LOG_TAIL = 2000
#: seconds a run has to stop after Cancel (its steps are interrupted, its kernels
#: shut down) before it is stopped by force
CANCEL_GRACE = 20.0


def _signal_group(pid: int, sig: int) -> None:
    """Signal the run's process group (it leads its own session), else the process."""
    try:
        os.killpg(pid, sig)
    except PermissionError:
        os.kill(pid, sig)


def _wait_gone(pid: int, live: LiveRun | None, timeout: float) -> bool:
    if live is not None:
        try:
            live.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    import psutil

    try:
        psutil.Process(pid).wait(timeout)
    except psutil.TimeoutExpired:
        return False
    except psutil.Error:
        pass
    return True


@dataclass(frozen=True)
class RunRequest:
    """The body of ``POST /cellpipe/runs``, checked for shape (not yet for meaning)."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    only: tuple[str, ...] = ()
    from_steps: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> RunRequest:
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise CellpipeError("'params' must be an object of NAME (or NOTEBOOK.NAME): VALUE")
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise CellpipeError("'force' must be true or false")
        lists = {}
        for key in ("only", "from"):
            value = body.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise CellpipeError(f"'{key}' must be a list of step names")
            lists[key] = tuple(value)
        return cls(body.get("path"), params, force, lists["only"], lists["from"])  # type: ignore[arg-type]


@dataclass
class LiveRun:
    """A run this server started: its process and what it was asked to do."""

    run_id: str
    process: subprocess.Popen
    notebook: str
    pipeline: str
    params: dict[str, dict[str, Any]]
    log: Path
    started: float
    project: Path
    cancelled: bool = False

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL:].strip()


class RunRegistry:
    """The runs started by this server, by id. One run at a time per store:
    the CLI refuses a second one (StoreBusy), and so does :meth:`start`.

    Each notebook's runs live in its project's store (the CLI's rule); the
    registry remembers every store it has used or been asked about, and looks a
    run up by id in them."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root.resolve()
        self.python = python
        self.runs: dict[str, LiveRun] = {}
        #: run id -> what happened when Cancel did not stop the run at once
        self.cancel_notes: dict[str, str] = {}
        self._lock = threading.Lock()
        #: the project roots whose stores this server has used or been asked about
        self.projects: dict[Path, None] = {default_project(self.root): None}

    def _project_of(self, run_id: str) -> Path:
        """The project whose store holds (or will hold) this run."""
        live = self.runs.get(run_id)
        if live is not None:
            return live.project
        for project in list(self.projects):
            with open_store(project) as store:
                if store is not None and store.db.run(run_id, prefix=False) is not None:
                    return project
        return default_project(self.root)

    def get(self, run_id: str) -> LiveRun | None:
        return self.runs.get(run_id)

    def active(self) -> list[LiveRun]:
        return [live for live in self.runs.values() if live.alive()]

    def alive(self, run: dict[str, Any]) -> bool:
        """Whether the run's process still runs (ours by handle, others by pid and age)."""
        live = self.runs.get(run["id"])
        return live.alive() if live is not None else run_alive(run)

    def running_elsewhere(self, project: Path) -> dict[str, Any] | None:
        """A run of this project's store that is alive but not this server's."""
        with open_store(project) as store:
            if store is None:
                return None
            for run in store.db.runs(limit=20):
                if run["state"] == RunState.RUNNING and run["id"] not in self.runs and run_alive(run):
                    return run
        return None

    def start(self, request: RunRequest) -> str:
        """Validate the request against the compiled pipeline, then start the run."""
        pipeline, notebook, project = load_pipeline(self.root, request.path)
        params = resolve(pipeline, request.params)  # unknown or mistyped: UsageError
        select(pipeline, list(request.only), list(request.from_steps))  # unknown steps: UsageError
        store = store_folder(project)
        with self._lock:
            busy = [live for live in self.active() if store_folder(live.project) == store]
            if busy:
                raise StoreBusy(store, {"run": busy[0].run_id, "pid": busy[0].process.pid})
            other = self.running_elsewhere(project)
            if other is not None:  # started by another server on this project, or before a restart
                raise StoreBusy(store, {"run": other["id"], "pid": other["pid"]})
            self.projects[project] = None
            run_id = new_run_id()
            while run_id in self.runs:
                run_id = new_run_id()
            folder = store / "server"
            folder.mkdir(parents=True, exist_ok=True)
            log = folder / f"{run_id}.log"
            launch = LaunchRequest((notebook,), dict(request.params), tuple(request.only),
                                   tuple(request.from_steps), request.force, store_location(project), run_id)
            process = spawn(launch, self.root, log, self.python)
            self.runs[run_id] = LiveRun(run_id, process, notebook, pipeline.name, params, log, time.time(), project)
        return run_id

    def cancel(self, run_id: str, sig: int = signal.SIGINT, grace: float | None = None) -> None:
        """Stop a running run: SIGINT to its process group, like Ctrl-C (a run
        started by an earlier server is found by its record's pid). A run still
        running ``grace`` seconds later is stopped by force; a run that could not
        be stopped is reported in its record's ``error``."""
        live = self.runs.get(run_id)
        if live is not None and live.alive():
            pid = live.process.pid
            live.cancelled = True
        else:
            with open_store(self._project_of(run_id)) as store:
                run = store.db.run(run_id, prefix=False) if store is not None else None
            if run is None or run["state"] != RunState.RUNNING or not run_alive(run):
                raise NotFound(f"run {run_id!r} is not running")
            pid = int(run["pid"])
        try:
            _signal_group(pid, sig)
        except ProcessLookupError:
            raise NotFound(f"run {run_id!r} is not running") from None
        self.cancel_notes.pop(run_id, None)
        threading.Thread(target=self._see_it_stop, args=(run_id, pid, live, CANCEL_GRACE if grace is None else grace),
                         name="cellpipe-cancel", daemon=True).start()

    def _see_it_stop(self, run_id: str, pid: int, live: LiveRun | None, grace: float) -> None:
        for sig, wait in ((None, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if sig is not None:
                try:
                    _signal_group(pid, sig)
                except ProcessLookupError:
                    return
                self.cancel_notes[run_id] = (f"the run did not stop within {grace:.0f} s of Cancel; "
                                             f"it was stopped with {sig.name}")
            if _wait_gone(pid, live, wait):
                return
        self.cancel_notes[run_id] = (f"Cancel could not stop the run: its process (pid {pid}) is still there "
                                     f"after SIGKILL; stop it from a terminal (kill -9 {pid})")

    def stop_all(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Stop every run still going and wait for them (tests, shutdown)."""
        for live in self.active():
            live.cancelled = True
            try:
                os.killpg(live.process.pid, sig)
            except ProcessLookupError:
                pass
        for live in self.runs.values():
            try:
                live.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(live.process.pid, signal.SIGKILL)
                live.process.wait()

    # -- reading runs ----------------------------------------------------------
    def _noted(self, record: IRunRecord) -> IRunRecord:
        note = self.cancel_notes.get(record["id"])
        if note and not record.get("error"):
            record["error"] = note
        return record

    def unrecorded(self, live: LiveRun) -> IRunRecord:
        """A run the store has no record of yet: starting, or it ended before
        writing one (the store was busy, the notebook changed...)."""
        if live.alive():
            state, error = RunState.STARTING, None
        else:
            state = RunState.INTERRUPTED if live.cancelled else RunState.FAILED
            error = live.log_tail() or f"the run's process exited with code {live.process.returncode}"
        return {"id": live.run_id, "pipeline": live.pipeline, "state": state, "started": live.started,
                "finished": None, "params": live.params, "metrics": [], "git_commit": None,
                "notebooks": [live.notebook], "error": error}

    def settle(self, store: Store, run: dict[str, Any]) -> tuple[dict[str, Any], str, bool]:
        """The run record, its state and whether its process runs. A record still
        ``running`` whose process is gone is read again (the run may have just
        finished); if it still says ``running``, the run was killed: ``interrupted``."""
        active = self.alive(run)
        if run["state"] == RunState.RUNNING and not active:
            run = store.db.run(run["id"], prefix=False) or run
        return run, run_state(run, alive=lambda _run: active), active

    def list(self, notebook: str | None = None, limit: int = 100) -> IRunsResponse:
        """Recorded runs, newest first (with this server's runs that have no record
        yet); only those that include ``notebook`` when given."""
        projects = list(self.projects)
        in_project = None
        if notebook is not None:
            file = confine(self.root, notebook)
            notebook = relative(file, self.root)
            project = project_root(file)
            in_project = project_relative(file, project)  # how the run records name it
            projects = [project]
            self.projects[project] = None
        runs: list[IRunRecord] = []
        ids: set[str] = set()
        for project in dict.fromkeys(projects):
            with open_store(project) as store:
                if store is None:
                    continue
                for run in store.db.runs(limit=limit):
                    if run["id"] in ids:  # one store shared by several projects ($CELLPIPE_STORE)
                        continue
                    ids.add(run["id"])
                    if in_project is None or in_project in (run["notebooks"] or []):
                        run, state, _ = self.settle(store, run)
                        runs.append(self._noted(run_record(run, store.db.metrics(run["id"]), state)))
        runs.sort(key=lambda r: -(r["started"] or 0))
        pending = [self.unrecorded(live) for live in self.runs.values()
                   if live.run_id not in ids and (notebook is None or live.notebook == notebook)]
        runs = sorted(pending, key=lambda r: -(r["started"] or 0)) + runs
        return {"runs": runs[:limit]}

    def in_progress(self, notebook: str) -> IActiveRun:
        """The run in progress that includes ``notebook``, with its steps so far, or
        ``{"run": None}``: this server's runs first, then the store's (a run started by
        the CLI, another server, or this server before a restart). The panel asks on
        every page load and notebook switch, so a run is never lost."""
        file = confine(self.root, notebook)
        notebook = relative(file, self.root)
        project = project_root(file)
        in_project = project_relative(file, project)  # how the run records name it
        self.projects[project] = None
        found: str | None = None
        for live in sorted(self.runs.values(), key=lambda r: -r.started):
            if live.notebook == notebook and live.alive():
                found = live.run_id
                break
        if found is None:
            with open_store(project) as store:
                for run in store.db.runs(limit=20) if store is not None else []:
                    if (run["state"] in (RunState.RUNNING, RunState.STARTING)
                            and in_project in (run["notebooks"] or []) and self.alive(run)):
                        found = run["id"]
                        break
        if found is None:
            return {"run": None}
        detail = self.detail(found)
        return {"run": detail if detail["active"] else None}

    def detail(self, run_id: str) -> IRunDetail:
        with open_store(self._project_of(run_id)) as store:
            run = store.db.run(run_id, prefix=False) if store is not None else None
            if store is not None and run is not None:
                run, state, active = self.settle(store, run)
                record = self._noted(run_record(run, store.db.metrics(run_id), state))
                rows = with_origins(store, store.db.step_runs(run_id))
                steps = [step_run(row, self.root, state) for row in rows]
                return {"run": record, "steps": steps, "active": active}
        live = self.runs.get(run_id)
        if live is None:
            raise NotFound(f"no run {run_id!r} in the store")
        return {"run": self.unrecorded(live), "steps": [], "active": live.alive()}

    def diff(self, a: str, b: str) -> dict[str, Any]:
        with open_store(self._project_of(a)) as store:
            for run_id in (a, b):
                if store is None or store.db.run(run_id, prefix=False) is None:
                    raise NotFound(f"no run {run_id!r} in the store")
            return run_diff(store, a, b)

    def step_notebook(self, run_id: str, step: str) -> IStepNotebook:
        """A step's output notebook (a cached step's: that of the run it was cached
        from). It lives under ``.cellpipe/``, which Jupyter's contents API hides by
        default, so the panel reads it from here."""
        with open_store(self._project_of(run_id)) as store:
            rows = with_origins(store, store.db.step_runs(run_id)) if store is not None else []
        row = next((r for r in rows if r["step"] == step), None)
        if row is None or not row.get("output_notebook"):
            raise NotFound(f"run {run_id!r} has no output notebook for step {step!r}")
        file = confine(self.root, row["output_notebook"])
        try:
            content = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"the output notebook of step {step!r} in run {run_id!r} was removed") from None
        return {"path": relative(file, self.root), "content": content}
