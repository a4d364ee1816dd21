"""The runs dashboard's questions: every run of a pipeline (or of every project
under the server's root) with its parameters, metrics, checks and sweep; several
runs side by side; the lineage of an artifact or of a file under the root.

Read-only: stores are opened read-only and never created; a project is any
folder under the root whose ``.cellpipe/cellpipe.db`` exists, plus the projects
the run registry already knows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cellpipe.engine.checkresults import run_checks
from cellpipe.engine.history import lineage, trace
from cellpipe.engine.project import rel as project_relative
from cellpipe.engine.store import STORE_DIR, Store
from cellpipe.engine.store.sweeps import sweep_trials, sweeps
from cellpipe.errors import UsageError
from cellpipe.server.paths import NotFound, confine, relative, root_relative_or_none
from cellpipe.server.records import open_store, project_root, run_record, store_folder
from cellpipe.server.runs import RunRegistry
from cellpipe.server.wire import (
    IArtifact,
    IArtifactValue,
    ICompareArtifact,
    ICompareResponse,
    ICompareRow,
    IDashboard,
    IDashboardRun,
    IRunArtifacts,
    IRunCheck,
    IRunRecord,
    ISweepSummary,
    ITrace,
)

#: folders never searched for projects (besides hidden ones)
SKIPPED = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "build", "dist"})
#: how deep under the root, and how many folders, the search for projects looks
MAX_DEPTH = 6
MAX_FOLDERS = 5000
#: the most runs compared at once
MAX_COMPARED = 20


def discover_projects(root: Path, max_depth: int = MAX_DEPTH, max_folders: int = MAX_FOLDERS) -> list[Path]:
    """Folders under ``root`` (itself included) that hold a cellpipe store, found
    without following symlinks, skipping hidden folders and package trees."""
    root = root.resolve()
    found: list[Path] = []
    seen = 0
    for folder, dirs, _files in os.walk(root, followlinks=False):
        seen += 1
        here = Path(folder)
        if STORE_DIR in dirs and (here / STORE_DIR / "cellpipe.db").is_file():
            found.append(here)
        depth = len(here.relative_to(root).parts)
        dirs[:] = [] if depth >= max_depth or seen >= max_folders else sorted(
            d for d in dirs if not d.startswith(".") and d not in SKIPPED)
    return found


def _checks(rows: list[dict[str, Any]]) -> list[IRunCheck]:
    return [{"step": str(c.get("step")), "name": str(c.get("name") or "check"), "passed": bool(c.get("passed")),
             "message": str(c.get("message") or "")} for c in run_checks(rows)]


def _trial_of(store: Store) -> tuple[dict[str, tuple[str, int]], list[ISweepSummary]]:
    """run id -> (sweep id, trial number), and the store's sweeps."""
    membership: dict[str, tuple[str, int]] = {}
    summaries: list[ISweepSummary] = []
    for sweep in sweeps(store.db):
        trials = sweep_trials(store.db, sweep["id"])
        for trial in trials:
            if trial["run_id"]:
                membership[trial["run_id"]] = (sweep["id"], int(trial["number"]))
        summaries.append({"id": sweep["id"], "kind": sweep["kind"], "state": sweep["state"],
                          "created": sweep["created"], "trials": len(trials),
                          "objectives": list(sweep.get("objectives") or [])})
    return membership, summaries


def dashboard(registry: RunRegistry, notebook: str | None, everything: bool = False,
              limit: int = 500) -> IDashboard:
    """The runs of ``notebook``'s pipeline (newest first), or with ``everything``
    (or no notebook) the runs of every project under the root, each with its
    checks and sweep; and the sweeps they belong to."""
    root = registry.root
    in_project: str | None = None
    if notebook is not None and not everything:
        file = confine(root, notebook)
        project = project_root(file)
        in_project = project_relative(file, project)
        projects = [project]
    else:
        projects = list(registry.projects) + discover_projects(root)
    stores: dict[Path, Path] = {}  # one store shared by several projects ($CELLPIPE_STORE) is read once
    for project in projects:
        stores.setdefault(store_folder(project), project)
    runs: list[IDashboardRun] = []
    all_sweeps: list[ISweepSummary] = []
    for project in stores.values():
        registry.projects[project] = None  # later questions about these runs find their store
        shown = root_relative_or_none(str(project), root)
        with open_store(project) as store:
            if store is None:
                continue
            membership, store_sweeps = _trial_of(store)
            used: set[str] = set()
            for run in store.db.runs(limit=limit):
                if in_project is not None and in_project not in (run["notebooks"] or []):
                    continue
                run, state, _ = registry.settle(store, run)
                record = run_record(run, store.db.metrics(run["id"]), state)
                sweep = membership.get(run["id"])
                if sweep:
                    used.add(sweep[0])
                runs.append({"run": record, "project": shown, "sweep": sweep[0] if sweep else None,
                             "trial": sweep[1] if sweep else None,
                             "checks": _checks(store.db.step_runs(run["id"]))})
            all_sweeps += [s for s in store_sweeps if s["id"] in used]
    known = {r["run"]["id"] for r in runs}
    for live in list(registry.runs.values()):  # started by this server, not recorded yet
        if live.run_id not in known and (notebook is None or everything or live.notebook == notebook):
            runs.append({"run": registry.unrecorded(live), "project": root_relative_or_none(str(live.project), root),
                         "sweep": None, "trial": None, "checks": []})
    runs.sort(key=lambda r: -(r["run"]["started"] or 0))
    return {"scope": "all" if notebook is None or everything else "pipeline", "runs": runs[:limit],
            "sweeps": sorted(all_sweeps, key=lambda s: -s["created"])}


def _project_of(registry: RunRegistry, run_id: str) -> Path:
    live = registry.get(run_id)
    if live is not None:
        return live.project
    for project in list(registry.projects):
        with open_store(project) as store:
            if store is not None and store.db.run(run_id, prefix=False) is not None:
                return project
    raise NotFound(f"no run {run_id!r} in the store; open the dashboard again to list the runs")


def _flat_params(run: dict[str, Any]) -> dict[str, Any]:
    return {f"{nb}:{k}": v for nb, ps in (run.get("params") or {}).items() for k, v in ps.items()}


def _row(name: str, values: list[Any]) -> ICompareRow:
    return {"name": name, "values": values, "changed": any(v != values[0] for v in values[1:])}


def compare(registry: RunRegistry, run_ids: list[str]) -> ICompareResponse:
    """Runs side by side (in the order given): every parameter, metric and artifact
    of any of them, each row saying whether the runs differ there."""
    if not 2 <= len(run_ids) <= MAX_COMPARED:
        raise UsageError(f"compare takes 2 to {MAX_COMPARED} runs (?run=A&run=B...); got {len(run_ids)}")
    records: list[IRunRecord] = []
    params: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    artifacts: list[dict[tuple[str, str, str], IArtifactValue]] = []
    for run_id in run_ids:
        with open_store(_project_of(registry, run_id)) as store:
            run = store.db.run(run_id, prefix=False) if store is not None else None
            if store is None or run is None:
                raise NotFound(f"no run {run_id!r} in the store")
            run, state, _ = registry.settle(store, run)
            rows = store.db.metrics(run_id)
            records.append(run_record(run, rows, state))
            params.append(_flat_params(run))
            metrics.append({f"{m['step']}.{m['name']}": m["value"] for m in rows})
            artifacts.append({(a["step"], a["kind"], a["name"]): {"hash": a["hash"], "size": a.get("size"),
                                                                   "format": a.get("format")}
                              for a in store.db.artifacts(run_id)})
    missing = object()

    def rows_of(maps: list[dict[str, Any]]) -> list[ICompareRow]:
        names = sorted(set().union(*maps))
        return [_row(n, [m.get(n, missing) for m in maps]) for n in names]

    def unmissing(rows: list[ICompareRow]) -> list[ICompareRow]:
        for row in rows:
            row["values"] = [None if v is missing else v for v in row["values"]]
        return rows

    compared: list[ICompareArtifact] = []
    for key in sorted(set().union(*artifacts)):
        values = [a.get(key) for a in artifacts]
        hashes = [v["hash"] if v else None for v in values]
        compared.append({"step": key[0], "kind": key[1], "name": key[2], "values": values,
                         "changed": any(h != hashes[0] for h in hashes[1:])})
    return {"runs": records, "params": unmissing(rows_of(params)), "metrics": unmissing(rows_of(metrics)),
            "artifacts": compared}


def run_artifacts(registry: RunRegistry, run_id: str) -> IRunArtifacts:
    """The variables and files a run's steps produced (or restored from the cache)."""
    with open_store(_project_of(registry, run_id)) as store:
        if store is None or store.db.run(run_id, prefix=False) is None:
            raise NotFound(f"no run {run_id!r} in the store")
        rows: list[IArtifact] = [{"step": a["step"], "kind": a["kind"], "name": a["name"], "hash": a["hash"],
                                  "size": a.get("size"), "format": a.get("format")}
                                 for a in store.db.artifacts(run_id)]
    return {"run_id": run_id, "artifacts": rows}


def _trace_wire(info: dict[str, Any], root: Path, path: str | None, digest: str | None) -> ITrace:
    return {"path": path, "hash": digest, "run": info["run"], "step": info["step"], "notebook": info["notebook"],
            "started": info.get("started"), "git_commit": info.get("git_commit"),
            "git_dirty": bool(info.get("git_dirty")), "code_key": info.get("code_key"),
            "code_cells": info.get("code_cells"), "parameters": info.get("parameters"),
            "input_variables": info.get("input_variables"), "input_files": info.get("input_files"),
            "files_read": info.get("files_read") or {}, "modules": info.get("modules"),
            "environment": info.get("environment"),
            "output_notebook": root_relative_or_none(info.get("output_notebook"), root)}


def trace_artifact(registry: RunRegistry, run_id: str, step: str, name: str | None = None,
                   kind: str | None = None) -> ITrace:
    """What made an artifact of ``step`` in run ``run_id`` (``cellpipe trace``'s answer,
    for a variable as well as a file): the run and step that executed it, its code
    key, parameters, inputs and environment."""
    with open_store(_project_of(registry, run_id)) as store:
        if store is None:
            raise NotFound(f"no run {run_id!r} in the store")
        digest = None
        if name is not None:
            match = [a for a in store.db.artifacts(run_id)
                     if a["step"] == step and a["name"] == name and (kind is None or a["kind"] == kind)]
            if not match:
                raise NotFound(f"run {run_id!r} has no artifact {name!r} of step {step!r}")
            digest = match[0]["hash"]
        try:
            info = lineage(store, run_id, step)
        except UsageError as exc:
            raise NotFound(str(exc)) from None
    return _trace_wire(info, registry.root, name, digest)


def trace_file(registry: RunRegistry, path: str) -> ITrace:
    """``cellpipe trace PATH`` for a file under the root: which recorded run made
    its current content."""
    file = confine(registry.root, path)
    shown = relative(file, registry.root)
    with open_store(project_root(file)) as store:
        if store is None:
            raise NotFound(f"no run has been recorded for {shown}: nothing has run in its project yet")
        try:
            info = trace(store, file, shown_as=shown)
        except UsageError as exc:
            raise NotFound(str(exc)) from None
    return _trace_wire(info, registry.root, shown, info["hash"])
