"""What a sweep's report shows, read from the store (``cellpipe sweep`` records,
:mod:`cellpipe.engine.store.sweeps`): one function per section.

Ranking, the best trial, the Pareto front and the command that reruns a trial
are :class:`cellpipe.engine.sweep.SweepResult`'s own, rebuilt from the records,
so the report says what ``cellpipe sweep`` said.
"""

from __future__ import annotations

import math
from typing import Any

from cellpipe.core import space as spaces
from cellpipe.engine import history
from cellpipe.engine.report.collect import seconds, when
from cellpipe.engine.store import sweeps as records
from cellpipe.engine.sweep import SweepResult, Trial, metric_value
from cellpipe.errors import UsageError

#: at most this many metrics are plotted against each parameter when the sweep had no objective
MAX_PLOTTED = 6


def sweep_result(store: Any, sweep: dict[str, Any]) -> SweepResult:
    """The recorded sweep as the sweep command's result (ranked trials, best, Pareto front)."""
    objectives = [spaces.Objective(o["metric"], o["direction"]) for o in sweep.get("objectives") or []]
    constraints = [spaces.Constraint(c["metric"], c["op"], float(c["value"])) for c in sweep.get("constraints") or []]
    trials = []
    for row in records.sweep_trials(store.db, sweep["id"]):
        trials.append(Trial(row["number"], row["params"], run_id=row["run_id"], state=row["state"],
                            metrics=row["metrics"], values=row["objective_values"], feasible=row["feasible"],
                            seconds=seconds(row["started"], row["finished"]) or 0.0, earlier=True))
    return SweepResult(sweep["id"], sweep["kind"], [], objectives, constraints, trials, sweep.get("fixed") or {},
                       sweep.get("notebooks") or [], state=sweep["state"])


def plotted_metrics(result: SweepResult) -> list[str]:
    """The metrics the plots show: the objectives and constrained metrics, else the first numeric ones."""
    named = [o.metric for o in result.objectives] + [c.metric for c in result.constraints]
    if named:
        return list(dict.fromkeys(named))
    found: list[str] = []
    for trial in result.trials:
        for name in trial.metrics:
            if "." not in name and metric_value(trial.metrics, name) is not None and name not in found:
                found.append(name)
    return sorted(found)[:MAX_PLOTTED]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def sweep_section(store: Any, sweep: dict[str, Any]) -> dict[str, Any]:
    """The sweep's header, its trials best first, the best one, the Pareto front,
    the data of the metric-vs-parameter plots and how often each step ran."""
    result = sweep_result(store, sweep)
    best = result.best
    front = {t.number for t in result.pareto} if len(result.objectives) > 1 else set()
    names = [d["name"] for d in sweep.get("space") or []] or sorted({k for t in result.trials for k in t.params})
    metrics = plotted_metrics(result)
    trials = [{
        "number": t.number, "run": t.run_id, "state": t.state, "params": [t.params.get(n) for n in names],
        "objective_values": t.values, "feasible": t.feasible, "seconds": t.seconds, "best": best is not None and t is best,
        "pareto": t.number in front, "metrics": [metric_value(t.metrics, m) for m in metrics],
    } for t in result.ranked]
    steps: dict[str, dict[str, int]] = {}
    for t in result.trials:
        if not t.run_id:
            continue
        for s in store.db.step_runs(t.run_id):
            counts = steps.setdefault(s["step"], {"executed": 0, "cached": 0, "other": 0})
            key = {"done": "executed", "failed": "executed", "cached": "cached"}.get(s["state"], "other")
            counts[key] += 1
    finished = [t for t in result.trials if t.run_id]
    return {
        "id": sweep["id"], "kind": sweep["kind"], "state": sweep["state"], "notebooks": sweep.get("notebooks") or [],
        "argv": sweep.get("argv") or [], "created": when(sweep.get("created")), "finished": when(sweep.get("finished")),
        "seconds": seconds(sweep.get("created"), sweep.get("finished")),
        "space": sweep.get("space") or [], "fixed": sweep.get("fixed") or {},
        "objectives": [{"metric": o.metric, "direction": o.direction} for o in result.objectives],
        "constraints": [str(c) for c in result.constraints],
        "param_names": names, "metric_names": metrics, "trials": trials,
        "best": None if best is None else {"number": best.number, "run": best.run_id, "params": best.params,
                                           "objective_values": best.values, "rerun": result.rerun_command(best)},
        "pareto": sorted(front),
        "steps": [{"step": k, **v} for k, v in steps.items()],
        "runs": len(finished),
        "executions": sum(v["executed"] for v in steps.values()),
        "restored": sum(v["cached"] for v in steps.values()),
    }


def _label(value: Any) -> str:
    """A parameter value as an axis label: strings as they are, others as Python writes them."""
    return value if isinstance(value, str) else repr(value)


def param_plot_data(section: dict[str, Any]) -> dict[str, Any]:
    """For each (parameter, metric): the trials' points, parameters on x (categories as positions)."""
    panels = []
    for pi, pname in enumerate(section["param_names"]):
        raw = [t["params"][pi] for t in section["trials"]]
        numeric = all(_number(v) is not None for v in raw)
        declared = next((d.get("choices") or [] for d in section["space"] if d.get("name") == pname), [])
        categories = [] if numeric else list(dict.fromkeys(_label(v) for v in [*declared, *raw]))
        for mi, mname in enumerate(section["metric_names"]):
            points = []
            for t, v in zip(section["trials"], raw, strict=True):
                y = t["metrics"][mi]
                if y is None:
                    continue
                x = _number(v) if numeric else categories.index(_label(v))
                points.append({"x": x, "y": float(y), "best": t["best"], "feasible": t["feasible"] is not False})
            panels.append({"param": pname, "metric": mname, "categories": categories, "points": points,
                           "integer": numeric and all(isinstance(v, int) for v in raw)})
    return {"panels": panels}


def pareto_data(section: dict[str, Any]) -> dict[str, Any] | None:
    """The first two objectives of each trial with values, and which trials are on the front."""
    if len(section["objectives"]) < 2:
        return None
    points = [{"x": t["objective_values"][0], "y": t["objective_values"][1], "number": t["number"], "front": t["pareto"],
               "feasible": t["feasible"] is not False} for t in section["trials"] if t["objective_values"]]
    return {"x": section["objectives"][0], "y": section["objectives"][1], "points": points}


def trial_of(store: Any, run_id: str) -> dict[str, Any] | None:
    """The sweep and trial number a run was, or None for a run outside any sweep."""
    import sqlite3

    try:
        row = store.db.conn.execute("SELECT sweep_id, number FROM sweep_trials WHERE run_id=?", (run_id,)).fetchone()
    except sqlite3.OperationalError:  # a store older than schema 5, opened read-only: no sweeps
        return None
    return None if row is None else {"sweep": row["sweep_id"], "number": row["number"]}


def find_target(store: Any, target: str | None) -> tuple[str, dict[str, Any]]:
    """("run", run) or ("sweep", sweep) for RUN|SWEEP (a run id, a sweep id, or a
    unique prefix of either); the newest run when ``target`` is None."""
    if target is None:
        runs = store.db.runs(limit=1)
        if not runs:
            raise UsageError("the store has no runs yet; run the pipeline first: cellpipe run NOTEBOOK")
        return "run", runs[0]
    try:
        return "run", history.find_run(store, target)
    except UsageError:
        pass
    try:
        return "sweep", records.find_sweep(store.db, target)
    except UsageError:
        pass
    recent_runs = ", ".join(r["id"] for r in store.db.runs(limit=5)) or "none"
    recent_sweeps = ", ".join(s["id"] for s in records.sweeps(store.db, limit=5)) or "none"
    raise UsageError(f"no run or sweep {target!r} in the store; recent runs: {recent_runs}; "
                     f"recent sweeps: {recent_sweeps}")
