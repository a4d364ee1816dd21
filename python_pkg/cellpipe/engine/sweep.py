"""Sweeps: a grid, a random sample or a Bayesian search (optuna) over a
pipeline's parameters, where every trial is an ordinary run.

Each trial goes through the same :class:`~cellpipe.engine.runner.Runner` as
``cellpipe run``: it is recorded, and every step whose key a trial's values do
not change is a cache hit. Trials run one after the other, so the first trial
executes the steps no swept parameter reaches and every later trial takes them
from the cache: those steps run once for the whole sweep (``-j`` is how many
steps of a trial run at once). The sweep and its trials are recorded in the
store (:mod:`cellpipe.engine.store.sweeps`); an optuna study lives in
``.cellpipe/optuna.db`` under the sweep's id, so ``--resume`` continues it.
"""

from __future__ import annotations

import difflib
import math
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cellpipe.core import space as spaces
from cellpipe.core.overrides import resolve
from cellpipe.core.parameters import sweep_annotations
from cellpipe.core.space import Constraint, Dimension, Objective
from cellpipe.engine.runner import CACHED, DONE, Runner, RunOptions, RunResult, new_run_id
from cellpipe.engine.store import Store
from cellpipe.engine.store import sweeps as records
from cellpipe.errors import UsageError
from cellpipe.model import Pipeline

Kind = Literal["grid", "random", "optimize"]
EXIT_INTERRUPTED = 130


@dataclass
class SweepRequest:
    """What the user asked of a sweep (the command line, as text)."""

    notebooks: list[str]
    #: ``-p NAME=SPACE`` items (a single value fixes the parameter for every trial)
    spaces: dict[str, str] = field(default_factory=dict)
    #: overrides that are never swept (``--params FILE``)
    fixed: dict[str, Any] = field(default_factory=dict)
    random: int | None = None
    seed: int | None = None
    objectives: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    trials: int | None = None
    #: a sweep id (or ``latest``) to continue
    resume: str | None = None
    jobs: int = 0
    argv: list[str] = field(default_factory=list)


@dataclass
class Trial:
    """One trial: its parameter set, its run and what the run measured."""

    number: int
    params: dict[str, Any]
    run_id: str | None = None
    state: str = "pending"
    metrics: dict[str, Any] = field(default_factory=dict)
    values: list[float] | None = None
    feasible: bool | None = None
    seconds: float = 0.0
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    #: recorded by an earlier invocation (a resumed sweep)
    earlier: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "params": self.params, "run": self.run_id, "state": self.state,
                "values": self.values, "feasible": self.feasible, "metrics": self.metrics,
                "seconds": round(self.seconds, 3), "executed": self.executed, "cached": self.cached,
                "earlier": self.earlier}


@dataclass
class SweepResult:
    """A sweep's trials, the best one (or the Pareto front), and how the cache served it."""

    sweep_id: str
    kind: Kind
    dims: list[Dimension]
    objectives: list[Objective]
    constraints: list[Constraint]
    trials: list[Trial]
    fixed: dict[str, Any]
    notebooks: list[str]
    state: str = "succeeded"
    #: step -> {"executed": n, "cached": m}, over this invocation's trials
    steps: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ranked(self) -> list[Trial]:
        """Trials best first (in trial order without an objective)."""
        if not self.objectives:
            return list(self.trials)
        order = spaces.rank([t.values for t in self.trials], [bool(t.feasible) for t in self.trials],
                            self.objectives)
        return [self.trials[i] for i in order]

    @property
    def best(self) -> Trial | None:
        """The best feasible trial by the first objective (without objectives: none)."""
        ok = [t for t in self.ranked if t.values is not None and t.feasible]
        return ok[0] if ok and self.objectives else None

    @property
    def pareto(self) -> list[Trial]:
        """The feasible trials no other feasible trial dominates."""
        ok = [t for t in self.trials if t.values is not None and t.feasible]
        return [ok[i] for i in spaces.pareto_front([t.values or [] for t in ok], self.objectives)]

    @property
    def exit_code(self) -> int:
        if self.state == "interrupted":
            return EXIT_INTERRUPTED
        return 0 if self.state == "succeeded" else 1

    def rerun_command(self, trial: Trial) -> str:
        """The ``cellpipe run`` command that gives this trial's run again (all cached)."""
        return shlex.join(["cellpipe", "run", *self.notebooks, *_param_args({**self.fixed, **trial.params})])

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "sweep": self.sweep_id, "kind": self.kind, "state": self.state, "exit_code": self.exit_code,
            "space": [d.to_dict() for d in self.dims],
            "objectives": [{"metric": o.metric, "direction": o.direction} for o in self.objectives],
            "constraints": [str(c) for c in self.constraints],
            "trials": [t.to_dict() for t in self.ranked],
            "best": None if best is None else {**best.to_dict(), "rerun": self.rerun_command(best)},
            "pareto": [t.number for t in self.pareto] if len(self.objectives) > 1 else None,
            "steps": self.steps, "seconds": round(self.seconds, 3),
        }


def _param_args(values: Mapping[str, Any]) -> list[str]:
    out = []
    for name, value in values.items():
        text = value if isinstance(value, str) else ("None" if value is None else repr(value))
        out += ["-p", f"{name}={text}"]
    return out


# -- spaces and metrics, checked before anything runs ---------------------------------------


def _parameter(pipeline: Pipeline, key: str) -> dict[str, Any]:
    """The schema of ``NAME`` (or ``NOTEBOOK.NAME``); a :class:`UsageError` naming the known ones."""
    stem, _, name = key.rpartition(".")
    for nb in pipeline.notebooks:
        nb_stem = nb.path.rsplit("/", 1)[-1].removesuffix(".ipynb")
        param = nb.parameter(name) if stem and stem == nb_stem else nb.parameter(key)
        if param is not None:
            return dict(param.schema)
    known = sorted({p.name for nb in pipeline.notebooks for p in nb.parameters})
    close = difflib.get_close_matches(name or key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"unknown parameter {key!r} to sweep; the notebooks' parameters: "
                     f"{', '.join(known) or 'none'}.{hint}")


def build_space(pipeline: Pipeline, cli: Mapping[str, str]) -> tuple[list[Dimension], dict[str, Any]]:
    """The swept dimensions and the fixed values: the parameters cells' ``# sweep:``
    annotations, then the command line's ``-p NAME=SPACE`` (which wins; one value fixes)."""
    texts: dict[str, str] = {}
    for nb in pipeline.notebooks:
        if nb.parameters_cell is not None:
            cell = next((c for c in nb.cells if c.index == nb.parameters_cell), None)
            if cell is not None:
                texts.update(sweep_annotations(cell.source))
    texts.update(cli)
    dims, fixed = [], {}
    for name, text in texts.items():
        dim = spaces.parse_space(name, text, _parameter(pipeline, name))
        if dim.fixed:
            fixed[name] = dim.choices[0]
        else:
            dims.append(dim)
    return dims, fixed


def known_metrics(pipeline: Pipeline) -> dict[str, list[str]]:
    """metric name -> the steps recording it (from the ``metrics`` cells)."""
    found: dict[str, list[str]] = {}
    for step in pipeline.steps:
        for name in step.metrics:
            found.setdefault(name, []).append(step.name)
    return found


def check_metric(pipeline: Pipeline, metric: str, option: str) -> None:
    """A :class:`UsageError` when no step records ``metric`` (or ``STEP.metric``)."""
    known = known_metrics(pipeline)
    step, _, name = metric.rpartition(".")
    if (step and step in known.get(name, [])) or (not step and metric in known):
        return
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {option} {metric.replace(name, close[0])}?" if close else ""
    raise UsageError(f"{option}: no step records a metric {metric!r}; the pipeline's metrics (from its "
                     f"metrics cells): {', '.join(names) or 'none (tag a cell `metrics`)'}.{hint}")


def metric_value(metrics: Mapping[str, Any], metric: str) -> float | None:
    """A trial's number for ``metric`` (``name`` or ``step.name``), None when it has none."""
    value = metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _trial_metrics(result: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for st in result.steps.values():
        for name, value in (st.metrics or {}).items():
            out.setdefault(name, value)
            out[f"{st.name}.{name}"] = value
    return out


# -- the sweep --------------------------------------------------------------------------------


class Sweeper:
    """Runs one sweep against one store; ``on_trial`` hears of each trial as it starts and ends."""

    def __init__(self, pipeline: Pipeline, root: Path, store: Store, request: SweepRequest,
                 on_trial: Callable[[Trial, SweepResult], None] | None = None,
                 recompile: Callable[[], Pipeline | None] | None = None) -> None:
        self.pipeline = pipeline
        self.root = root
        self.store = store
        self.request = request
        self.on_trial = on_trial or (lambda t, r: None)
        self.recompile = recompile
        self.result: SweepResult | None = None

    # -- setting up ---------------------------------------------------------------------------
    def prepare(self) -> SweepResult:
        """Check everything the user wrote and record the sweep (or reopen it). Nothing runs."""
        req = self.request
        objectives = [spaces.parse_objective(t) for t in req.objectives]
        constraints = [spaces.parse_constraint(t) for t in req.constraints]
        if req.trials is not None and req.trials < 1:
            raise UsageError("--trials must be at least 1")
        if req.random is not None and req.random < 1:
            raise UsageError("--random must be at least 1")
        if req.jobs < 0:
            raise UsageError("-j must be at least 1")
        for obj in objectives:
            check_metric(self.pipeline, obj.metric, "--optimize")
        for con in constraints:
            check_metric(self.pipeline, con.metric, "--where")
        if req.resume:
            return self._reopen(objectives, constraints)
        dims, fixed = build_space(self.pipeline, req.spaces)
        fixed = {**req.fixed, **fixed}
        if not dims:
            raise UsageError("nothing to sweep: give a parameter several values (-p n_estimators=50,100,200), "
                             "a range (-p max_depth=3..8), or annotate the parameters cell "
                             "(`n_estimators: int = 100  # sweep: 50..500 log`)")
        kind: Kind = "optimize" if req.trials else "random" if req.random else "grid"
        if req.trials and req.random:
            raise UsageError("--random and --trials: choose one (--trials N with --optimize runs a Bayesian "
                             "search; --random N samples at random)")
        if req.trials and not objectives:
            raise UsageError("--trials needs an objective: add --optimize METRIC:max (or :min); for a random "
                             "sample use --random N")
        if kind == "grid":
            spaces.grid(dims)  # a float range or a huge grid is a usage error now, not after a run
        sweep_id = "s-" + new_run_id()
        result = SweepResult(sweep_id, kind, dims, objectives, constraints, [], fixed, list(req.notebooks))
        records.create_sweep(self.store.db, {
            "id": sweep_id, "kind": kind, "notebooks": list(req.notebooks), "space": [d.to_dict() for d in dims],
            "objectives": [{"metric": o.metric, "direction": o.direction} for o in objectives],
            "constraints": [{"metric": c.metric, "op": c.op, "value": c.value} for c in constraints],
            "fixed": fixed, "study": sweep_id if kind == "optimize" else None, "argv": req.argv,
        })
        self.result = result
        return result

    def _reopen(self, objectives: list[Objective], constraints: list[Constraint]) -> SweepResult:
        req = self.request
        if req.resume in (None, "latest"):  # the newest sweep of these notebooks
            mine = [r for r in records.sweeps(self.store.db) if sorted(r["notebooks"]) == sorted(req.notebooks)]
            if not mine:
                raise UsageError(f"no sweep of {', '.join(req.notebooks)} to resume in the store. Fix: start one "
                                 "(leave out --resume), or name the sweep: --resume SWEEP")
            row = mine[0]
        else:
            row = records.find_sweep(self.store.db, req.resume)
        if sorted(row["notebooks"]) != sorted(req.notebooks):
            raise UsageError(f"sweep {row['id']} ran {', '.join(row['notebooks'])}, not "
                             f"{', '.join(req.notebooks)}. Fix: resume it with the same notebooks")
        dims = [_dimension(d) for d in row["space"]]
        rec_obj = [Objective(o["metric"], o["direction"]) for o in row["objectives"]]
        rec_con = [Constraint(c["metric"], c["op"], c["value"]) for c in row["constraints"]]
        if (objectives and objectives != rec_obj) or (constraints and constraints != rec_con):
            raise UsageError(f"sweep {row['id']} optimizes "
                             f"{', '.join(f'{o.metric}:{o.direction[:3]}' for o in rec_obj) or 'nothing'}"
                             f" with constraints {', '.join(map(str, rec_con)) or 'none'}; --resume keeps them. "
                             "Fix: leave out --optimize/--where, or start a new sweep")
        if req.spaces:
            raise UsageError(f"--resume continues sweep {row['id']} over its own space; leave out -p")
        if row["kind"] == "optimize" and not req.trials:
            raise UsageError(f"--resume of the Bayesian search {row['id']}: say how many more trials (--trials N)")
        result = SweepResult(row["id"], row["kind"], dims, rec_obj, rec_con, [], row["fixed"] or {},
                             list(row["notebooks"]))
        for t in records.sweep_trials(self.store.db, row["id"]):
            result.trials.append(Trial(t["number"], t["params"], t["run_id"], t["state"], t["metrics"],
                                       t["objective_values"], t["feasible"], earlier=True))
        records.reopen_sweep(self.store.db, row["id"])
        self.result = result
        return result

    # -- running ----------------------------------------------------------------------------------
    def run(self) -> SweepResult:
        """Run the trials; the sweep's state is recorded however it ends."""
        result = self.result or self.prepare()
        started = time.monotonic()
        state = "interrupted"
        try:
            if result.kind == "optimize":
                from cellpipe.engine.optimize import run_study

                run_study(self, result)
            else:
                self._run_list(result)
            state = result.state
        finally:
            result.seconds = time.monotonic() - started
            result.state = state
            records.finish_sweep(self.store.db, result.sweep_id, state)
        return result

    def _run_list(self, result: SweepResult) -> None:
        req = self.request
        if result.kind == "grid":
            points = spaces.grid(result.dims)
        else:
            points = spaces.sample(result.dims, req.random or sum(1 for t in result.trials if t.earlier),
                                   req.seed)
        done = {repr(sorted(t.params.items())) for t in result.trials if t.state == "succeeded"}
        todo = [p for p in points if repr(sorted(p.items())) not in done]
        number = records.next_trial_number(self.store.db, result.sweep_id)
        for i, point in enumerate(todo):
            trial = self.run_trial(result, number + i, point)
            if trial.state == "interrupted":
                break

    def run_trial(self, result: SweepResult, number: int, params: dict[str, Any]) -> Trial:
        """Run one parameter set as an ordinary run, record it and score it."""
        trial = Trial(number, params, state="running")
        result.trials.append(trial)
        db = self.store.db
        started = time.time()
        records.record_trial(db, result.sweep_id, {"number": number, "params": params, "state": "running",
                                                   "started": started})
        self.on_trial(trial, result)
        values = resolve(self.pipeline, {**result.fixed, **params})
        argv = ["run", *result.notebooks, *_param_args({**result.fixed, **params})]  # what reruns it
        options = RunOptions(params=values, jobs=self.request.jobs, argv=argv)
        run = Runner(self.pipeline, self.root, self.store, options, recompile=self.recompile).run()
        trial.run_id, trial.seconds = run.run_id, time.time() - started
        trial.state = "interrupted" if run.exit_code == EXIT_INTERRUPTED else run.state
        trial.metrics = _trial_metrics(run)
        for st in run.steps.values():
            counts = result.steps.setdefault(st.name, {"executed": 0, "cached": 0})
            if st.state == DONE:
                trial.executed.append(st.name)
                counts["executed"] += 1
            elif st.state == CACHED:
                trial.cached.append(st.name)
                counts["cached"] += 1
        self.score(result, trial)
        records.record_trial(db, result.sweep_id, {
            "number": number, "run_id": run.run_id, "params": params, "objective_values": trial.values,
            "feasible": trial.feasible, "state": trial.state, "started": started, "finished": time.time()})
        if trial.state == "interrupted":
            result.state = "interrupted"
        elif trial.state != "succeeded" and result.state == "succeeded":
            result.state = "failed"
        self.on_trial(trial, result)
        return trial

    @staticmethod
    def score(result: SweepResult, trial: Trial) -> None:
        """The trial's objective values and feasibility, from its metrics."""
        if trial.state != "succeeded":
            return
        values = [metric_value(trial.metrics, o.metric) for o in result.objectives]
        trial.values = None if any(v is None for v in values) else [float(v or 0.0) for v in values]
        measured = [metric_value(trial.metrics, c.metric) for c in result.constraints]
        trial.feasible = all(m is not None and c.holds(m) for m, c in zip(measured, result.constraints,
                                                                         strict=True))


def _dimension(data: Mapping[str, Any]) -> Dimension:
    """A dimension as the store recorded it (:meth:`Dimension.to_dict`)."""
    if data["kind"] == "choice":
        text = ",".join("None" if v is None else str(v) for v in data["choices"])
        return Dimension(data["name"], "choice", choices=tuple(data["choices"]), text=text)
    text = f"{data['low']}..{data['high']}" + (" log" if data["log"] else "")
    return Dimension(data["name"], data["kind"], low=data["low"], high=data["high"], log=bool(data["log"]),
                     text=text)
