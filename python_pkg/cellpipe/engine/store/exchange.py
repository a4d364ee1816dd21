"""Run records as JSON that can travel (pushed to a shared cache, pulled into
another project's store), and back into the SQLite metadata.

What travels is what ``show``, ``status`` and ``trace`` need: the run (pipeline,
notebooks, parameters, commit, environment), its steps (key, key parts, times,
state), artifacts and metrics. What stays behind is what only means something
on the machine that ran it, or could hold a secret: the project's absolute
root, the process id, the command line, the interpreter's path.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cellpipe.engine.store.db import Database

#: run fields that never leave the machine
_LOCAL_RUN_FIELDS = ("root", "pid", "argv")
#: environment fields that never leave the machine
_LOCAL_ENV_FIELDS = ("executable",)


def portable_run(run: dict[str, Any]) -> dict[str, Any]:
    """The run's record without machine-local fields."""
    out = {k: v for k, v in run.items() if k not in _LOCAL_RUN_FIELDS and k != "alive"}
    out["env"] = {k: v for k, v in (run.get("env") or {}).items() if k not in _LOCAL_ENV_FIELDS}
    return out


def portable_step(step: dict[str, Any], notebook_key: str | None = None) -> dict[str, Any]:
    """A step row without machine-local paths; ``notebook_key`` says where its
    output notebook is in the shared location (None: not there)."""
    out = {k: v for k, v in step.items() if k not in ("run_id", "log", "output_notebook")}
    out["output_notebook"] = notebook_key
    return out


def import_run(db: Database, run: dict[str, Any], root: str, origin: str, steps: list[dict[str, Any]],
               artifacts: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> None:
    """Record a run computed elsewhere (its id is kept) and the given steps of it,
    in one transaction; rows already present are kept as they are.

    ``root`` is this project's root (the run's files map onto it); ``origin``
    (a redacted URL) is kept in its environment as ``pulled_from``.
    """
    run_id = run["id"]
    env = {**(run.get("env") or {}), "pulled_from": origin}
    with db.transaction() as c:
        c.execute(
            "INSERT OR IGNORE INTO runs(id, pipeline, root, notebooks, started, finished, state, params, argv,"
            " git_commit, git_dirty, env, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, run.get("pipeline") or "", root, json.dumps(run.get("notebooks") or []),
             run.get("started") or time.time(), run.get("finished"), run.get("state") or "succeeded",
             json.dumps(run.get("params") or {}, sort_keys=True), json.dumps([]), run.get("git_commit"),
             run.get("git_dirty"), json.dumps(env, sort_keys=True), None),
        )
        for step in steps:
            c.execute(
                "INSERT OR IGNORE INTO step_runs(run_id, step, notebook, state, key, parts, started, finished,"
                " output_notebook, log, error, cached_from, warnings) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, step["step"], step["notebook"], step["state"], step.get("key"),
                 json.dumps(step.get("parts"), sort_keys=True) if step.get("parts") is not None else None,
                 step.get("started"), step.get("finished"), step.get("output_notebook"), None,
                 json.dumps(step["error"]) if step.get("error") else None, step.get("cached_from"),
                 json.dumps(step.get("warnings") or [])),
            )
        for art in artifacts:
            c.execute("INSERT OR IGNORE INTO artifacts VALUES (?,?,?,?,?,?,?)",
                      (run_id, art["step"], art["kind"], art["name"], art["hash"], art.get("size"),
                       art.get("format")))
        for m in metrics:
            c.execute("INSERT OR IGNORE INTO metrics VALUES (?,?,?,?)",
                      (run_id, m["step"], m["name"], json.dumps(m["value"])))


def put_cache_entry(db: Database, entry: dict[str, Any]) -> None:
    """Record a cache entry computed elsewhere under its key (its run must be imported)."""
    with db.transaction() as c:
        c.execute(
            "INSERT OR REPLACE INTO cache(key, step, notebook, run_id, outputs, metrics, parts, created)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (entry["key"], entry["step"], entry["notebook"], entry["run_id"],
             json.dumps(entry["outputs"], sort_keys=True), json.dumps(entry["metrics"], sort_keys=True),
             json.dumps(entry["parts"], sort_keys=True), time.time()),
        )


def step_artifacts(step: str, outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Artifact rows of a step's recorded outputs (as :meth:`Database.record_success` writes them)."""
    rows = [{"step": step, "kind": "variable", "name": name, "hash": art["hash"], "size": art.get("bytes"),
             "format": art.get("format")} for name, art in outputs.get("variables", {}).items()]
    rows += [{"step": step, "kind": "file", "name": path, "hash": art["hash"], "size": art.get("bytes"),
              "format": art.get("format")} for path, art in outputs.get("files", {}).items()]
    return rows
