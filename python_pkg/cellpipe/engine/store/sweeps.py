"""Sweep records in the SQLite store (schema 5): what ``cellpipe sweep`` wrote,
for the sweep command itself, ``cellpipe report SWEEP`` and the panel.

Tables
------
``sweeps``: one row per sweep (a grid, a random sample or a Bayesian search).
    ``id`` (``s-YYYYmmdd-HHMMSS-xxxx``), ``kind`` (``grid`` | ``random`` | ``optimize``),
    ``notebooks`` (JSON list), ``space`` (JSON list of dimensions: ``{name, kind: choice|int|float,
    choices | low, high, log}``), ``objectives`` (JSON list of ``{metric, direction:
    maximize|minimize}``), ``constraints`` (JSON list of ``{metric, op, value}``), ``fixed`` (JSON:
    the other ``-p`` overrides every trial shares), ``study`` (the optuna study's name in
    ``.cellpipe/optuna.db``, for ``optimize``), ``argv``, ``created``, ``finished``, ``state``
    (``running`` | ``succeeded`` | ``failed`` | ``interrupted``).
``sweep_trials``: one row per trial, ``(sweep_id, number)``; ``run_id`` is the trial's ordinary run
    (``runs``, ``step_runs``, ``metrics`` hold the rest: a trial is a normal run), ``params`` (JSON:
    the swept values of this trial), ``objective_values`` (JSON list in the order of ``objectives``,
    null when the run gave none), ``feasible`` (1/0 against the constraints; null without values),
    ``state`` (the run's state), ``started``, ``finished``.

Read a sweep with :func:`sweep_trials` (trials with their parameters, metrics and run ids) and
:func:`find_sweep`; :func:`sweeps` lists them newest first.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cellpipe.engine.store.db import Database
from cellpipe.errors import UsageError

__all__ = ["create_sweep", "finish_sweep", "reopen_sweep", "record_trial", "sweeps", "find_sweep", "sweep_trials",
           "next_trial_number"]


def create_sweep(db: Database, sweep: dict[str, Any]) -> None:
    """Record a new sweep (keys as the ``sweeps`` columns; JSON columns as Python values)."""
    with db.transaction() as c:
        c.execute(
            "INSERT INTO sweeps(id, kind, notebooks, space, objectives, constraints, fixed, study, argv, created,"
            " state) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (sweep["id"], sweep["kind"], json.dumps(sweep["notebooks"]), json.dumps(sweep["space"]),
             json.dumps(sweep["objectives"]), json.dumps(sweep["constraints"]),
             json.dumps(sweep["fixed"], sort_keys=True, default=str), sweep.get("study"),
             json.dumps(sweep["argv"]), time.time(), "running"),
        )


def finish_sweep(db: Database, sweep_id: str, state: str) -> None:
    with db.transaction() as c:
        c.execute("UPDATE sweeps SET state=?, finished=? WHERE id=?", (state, time.time(), sweep_id))


def reopen_sweep(db: Database, sweep_id: str) -> None:
    """A resumed sweep is running again."""
    with db.transaction() as c:
        c.execute("UPDATE sweeps SET state='running', finished=NULL WHERE id=?", (sweep_id,))


def record_trial(db: Database, sweep_id: str, trial: dict[str, Any]) -> None:
    """Write (or update) one trial: ``number``, ``run_id``, ``params``, ``objective_values``,
    ``feasible``, ``state``, ``started``, ``finished``."""
    feasible = trial.get("feasible")
    values = trial.get("objective_values")
    with db.transaction() as c:
        c.execute(
            "INSERT OR REPLACE INTO sweep_trials(sweep_id, number, run_id, params, objective_values, feasible,"
            " state, started, finished) VALUES (?,?,?,?,?,?,?,?,?)",
            (sweep_id, trial["number"], trial.get("run_id"), json.dumps(trial["params"], sort_keys=True),
             None if values is None else json.dumps(values), None if feasible is None else int(feasible),
             trial["state"], trial["started"], trial.get("finished")),
        )


def next_trial_number(db: Database, sweep_id: str) -> int:
    row = db.conn.execute("SELECT MAX(number) FROM sweep_trials WHERE sweep_id=?", (sweep_id,)).fetchone()
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def _sweep_row(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in ("notebooks", "space", "objectives", "constraints", "fixed", "argv"):
        data[key] = json.loads(data[key]) if data.get(key) else None
    return data


def _has_tables(db: Database) -> bool:
    """A store older than schema 5, opened read-only, has no sweep tables."""
    return db.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='sweeps'").fetchone() is not None


def sweeps(db: Database, limit: int | None = None) -> list[dict[str, Any]]:
    """The recorded sweeps, newest first."""
    if not _has_tables(db):
        return []
    sql = "SELECT * FROM sweeps ORDER BY created DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_sweep_row(r) for r in db.conn.execute(sql).fetchall()]


def find_sweep(db: Database, sweep_id: str) -> dict[str, Any]:
    """The sweep with this id, or the only one whose id starts with it; ``latest``
    is the newest. Raises :class:`UsageError` naming the known sweeps."""
    rows = [] if not _has_tables(db) else (
        db.conn.execute("SELECT * FROM sweeps ORDER BY created DESC LIMIT 1").fetchall() if sweep_id == "latest"
        else db.conn.execute("SELECT * FROM sweeps WHERE id LIKE ? ORDER BY created DESC",
                             (sweep_id + "%",)).fetchall())
    exact = [r for r in rows if r["id"] == sweep_id]
    if exact:
        return _sweep_row(exact[0])
    if len(rows) == 1:
        return _sweep_row(rows[0])
    known = ", ".join(s["id"] for s in sweeps(db, limit=5)) or "none"
    what = "several sweeps start with" if rows else "no sweep"
    raise UsageError(f"{what} {sweep_id!r} in the store; recent sweeps: {known}")


def sweep_trials(db: Database, sweep_id: str) -> list[dict[str, Any]]:
    """A sweep's trials in order: ``number``, ``run_id``, ``params`` (the swept values),
    ``objective_values``, ``feasible``, ``state``, ``started``, ``finished``, and ``metrics``
    (``{name: value}`` of every metric the trial's run recorded; ``step.name`` keys too)."""
    if not _has_tables(db):
        return []
    out = []
    for row in db.conn.execute("SELECT * FROM sweep_trials WHERE sweep_id=? ORDER BY number",
                               (sweep_id,)).fetchall():
        trial = dict(row)
        trial.pop("sweep_id", None)
        trial["params"] = json.loads(trial["params"])
        trial["objective_values"] = (json.loads(trial["objective_values"])
                                     if trial["objective_values"] is not None else None)
        trial["feasible"] = None if trial["feasible"] is None else bool(trial["feasible"])
        metrics: dict[str, Any] = {}
        if trial["run_id"]:
            for m in db.metrics(trial["run_id"]):
                metrics.setdefault(m["name"], m["value"])
                metrics[f"{m['step']}.{m['name']}"] = m["value"]
        trial["metrics"] = metrics
        out.append(trial)
    return out
