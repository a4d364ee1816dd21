"""Bayesian search for :mod:`cellpipe.engine.sweep`, with optuna (the
``cellpipe[experiments]`` extra).

The study is optuna's TPE sampler over the sweep's dimensions, one objective or
several (a multi-objective study; its Pareto front is what the sweep reports),
with ``--where`` constraints given to the sampler (each trial's violations:
``Trial.set_constraint`` on optuna 5, ``constraints_func`` before). It lives in
an optuna RDB storage, ``optuna.db`` in the store's folder, under the sweep's
id: ``--resume`` loads it and asks for more trials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cellpipe.core.space import Dimension
from cellpipe.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from cellpipe.engine.sweep import Sweeper, SweepResult

#: the optuna storage file in the store's folder
STUDY_FILE = "optuna.db"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise UsageError("--optimize --trials needs optuna. Fix: pip install 'cellpipe[experiments]' "
                         "(or pip install optuna)") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
    return list(trial.user_attrs.get("constraints", [1.0]))


def suggest(trial: optuna.trial.Trial, dim: Dimension) -> Any:
    """The trial's value for one dimension."""
    if dim.kind == "choice":
        return trial.suggest_categorical(dim.name, list(dim.choices))
    if dim.kind == "int":
        return trial.suggest_int(dim.name, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(dim.name, float(dim.low), float(dim.high), log=dim.log)


def run_study(sweeper: Sweeper, result: SweepResult) -> None:
    """Ask the study for ``--trials`` parameter sets, run each as a trial, tell it what they gave."""
    optuna = _optuna()
    storage = f"sqlite:///{sweeper.store.folder / STUDY_FILE}"
    # optuna 5 reads constraints a trial sets itself; earlier versions take a constraints_func
    own = hasattr(optuna.trial.Trial, "set_constraint")
    sampler = optuna.samplers.TPESampler(
        seed=sweeper.request.seed, constraints_func=_constraints if result.constraints and not own else None)
    study = optuna.create_study(storage=storage, study_name=result.sweep_id, sampler=sampler,
                                directions=[o.direction for o in result.objectives], load_if_exists=True)
    start = max((t.number + 1 for t in result.trials), default=0)
    for i in range(sweeper.request.trials or 0):
        asked = study.ask()
        params = {dim.name: suggest(asked, dim) for dim in result.dims}
        trial = sweeper.run_trial(result, start + i, params)
        if trial.values is None:
            study.tell(asked, state=optuna.trial.TrialState.FAIL)
        else:
            violations = [c.violation(v) if v is not None else 1.0
                          for c, v in ((c, _measured(trial.metrics, c.metric)) for c in result.constraints)]
            asked.set_user_attr("constraints", violations)
            if own:
                for con, violation in zip(result.constraints, violations, strict=True):
                    asked.set_constraint(str(con), violation)
            asked.set_user_attr("cellpipe_run", trial.run_id)
            study.tell(asked, trial.values)
        if trial.state == "interrupted":
            break


def _measured(metrics: dict[str, Any], metric: str) -> float | None:
    from cellpipe.engine.sweep import metric_value

    return metric_value(metrics, metric)
