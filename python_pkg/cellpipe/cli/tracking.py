"""MLflow on the command line: ``run --mlflow [URI] [--mlflow-experiment NAME] [--no-mlflow]``
and ``cellpipe mlflow-log RUN`` (see :mod:`cellpipe.engine.integrations.mlflow`).

Logging never changes a run's outcome: when MLflow fails, ``cellpipe run`` prints one warning
and keeps its exit code; ``mlflow-log`` is the command that logs the run again later.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``cellpipe run``'s MLflow options."""
    p.add_argument("--mlflow", nargs="?", const="", metavar="URI",
                   help="log the run to MLflow (pip install 'cellpipe[mlflow]'): one MLflow run, steps as "
                        "nested runs. URI default: MLFLOW_TRACKING_URI, [tool.cellpipe] mlflow, else "
                        "sqlite:///<project>/mlflow.db")
    p.add_argument("--mlflow-experiment", metavar="NAME",
                   help="the MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, [tool.cellpipe] "
                        "mlflow-experiment, else the pipeline's name)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow ([tool.cellpipe] mlflow set)")


def _looks_like_notebook(value: str) -> bool:
    """``run --mlflow a.ipynb``: the optional URI took a notebook; no tracking URI is a plain file."""
    if "://" in value or value.endswith(".db"):
        return False
    try:
        return Path(value).is_file()
    except (OSError, ValueError):
        return False


def take_back_notebook(args: argparse.Namespace) -> None:
    """Give ``--mlflow``'s value back to the notebooks when it names a notebook file (in the
    order of the command line when it is known)."""
    value = getattr(args, "mlflow", None)
    if not value or not _looks_like_notebook(value):
        return
    args.mlflow = ""
    argv = getattr(args, "argv", None) or []
    notebooks = [*args.notebooks, value]
    if all(n in argv for n in notebooks):
        notebooks.sort(key=argv.index)
    args.notebooks = notebooks


def before_run(args: argparse.Namespace, root: Path) -> Any:
    """The MLflow target of this run (None: not logged); a missing MLflow is a usage error now,
    before any step runs."""
    from cellpipe.engine.integrations.mlflow import require_mlflow, resolve

    target = resolve(root, getattr(args, "mlflow", None), getattr(args, "mlflow_experiment", None),
                     off=getattr(args, "no_mlflow", False))
    if target is not None:
        require_mlflow()
    return target


def after_run(store: Any, target: Any, run_id: str, pipeline: Any) -> dict[str, Any] | None:
    """Log the finished run: what was logged (for ``--json``), or the warning when MLflow failed."""
    if target is None:
        return None
    from cellpipe.engine.integrations.mlflow import log_finished

    return log_finished(store, run_id, target, {s.name: s.code_hash for s in pipeline.steps})


def report(args: argparse.Namespace, done: dict[str, Any] | None) -> None:
    """After the run's summary: a failure of MLflow as one warning, else (unless ``-q``/``--json``)
    where the run was logged."""
    if done is None:
        return
    if not done["logged"]:  # MLflow failed: the run stands, said once
        print(f"cellpipe: warning: {done['warning']}", file=sys.stderr)
    elif not (args.quiet or args.json):
        print(f"logged to MLflow: run {done['mlflow_run_id']} in experiment {done['experiment']!r} "
              f"({done['steps']} step{'s' * (done['steps'] != 1)}, {done['artifacts']} artifact"
              f"{'s' * (done['artifacts'] != 1)}) at {done['uri']}", file=sys.stderr)


class TrialLogger:
    """``cellpipe sweep --mlflow``: each finished trial logged as an MLflow run tagged
    ``cellpipe.sweep_id`` and ``cellpipe.trial``; after MLflow's first failure no more tries."""

    def __init__(self, store: Any, target: Any, pipeline: Any) -> None:
        self.store, self.target = store, target
        self.hashes = {s.name: s.code_hash for s in pipeline.steps}
        self.logged: list[dict[str, Any]] = []
        self.failure: dict[str, Any] | None = None

    def wrap(self, show: Any) -> Any:
        """The sweep's ``on_trial``: ``show`` (may be None), then the trial logged when it has ended."""
        if self.target is None:
            return show

        def hear(trial: Any, result: Any) -> None:
            if show is not None:
                show(trial, result)
            if trial.state in ("pending", "running") or not trial.run_id or self.failure is not None:
                return
            from cellpipe.engine.integrations.mlflow import log_finished

            done = log_finished(self.store, trial.run_id, self.target, self.hashes,
                                {"cellpipe.sweep_id": result.sweep_id, "cellpipe.trial": str(trial.number)})
            if done["logged"]:
                self.logged.append(done)
            else:
                self.failure = done

        return hear

    def summary(self) -> dict[str, Any]:
        """For ``--json``: the MLflow runs of the trials, or MLflow's failure."""
        runs = [d["mlflow_run_id"] for d in self.logged]
        if self.failure is not None:
            return {**self.failure, "runs": runs}
        return {"logged": True, "uri": self.target.shown, "runs": runs,
                "experiment": self.logged[0]["experiment"] if self.logged else None}

    def report(self, args: argparse.Namespace) -> None:
        if self.target is None:
            return
        if self.failure is not None:
            print(f"cellpipe: warning: {self.failure['warning']}", file=sys.stderr)
        elif self.logged and not (args.quiet or args.json):
            print(f"logged to MLflow: {len(self.logged)} trial run{'s' * (len(self.logged) != 1)} in experiment "
                  f"{self.logged[0]['experiment']!r} at {self.logged[0]['uri']}", file=sys.stderr)


def cmd_mlflow_log(args: argparse.Namespace) -> int:
    """Log a recorded run to MLflow; exit 2 when MLflow fails."""
    from cellpipe.engine.integrations.mlflow import log_run, require_mlflow, resolve
    from cellpipe.engine.project import project_root_of
    from cellpipe.engine.store import Store

    start = Path.cwd().resolve()
    root = project_root_of(start) or start
    target = resolve(root, args.mlflow or "", args.mlflow_experiment)
    assert target is not None  # a flag ("" included) always resolves to a target
    require_mlflow()
    store = Store.open(root, getattr(args, "store", None))
    try:
        logged = log_run(store, args.run, target)
    finally:
        store.close()
    if args.json:
        print(json.dumps(logged.to_dict(), indent=2))
    elif logged.already:
        print(f"run {args.run} is already logged to MLflow: run {logged.mlflow_run_id} in experiment "
              f"{logged.experiment!r} at {logged.uri}; nothing logged again")
    else:
        print(f"logged to MLflow: run {logged.mlflow_run_id} in experiment {logged.experiment!r} "
              f"({logged.steps} steps, {logged.artifacts} artifacts) at {logged.uri}")
    return EXIT_OK


def add_command(sub: Any, store_opts: argparse.ArgumentParser) -> None:
    """Add ``mlflow-log`` to the ``cellpipe`` command."""
    p = sub.add_parser("mlflow-log", parents=[store_opts],
                       help="log a recorded run to MLflow (pip install 'cellpipe[mlflow]')")
    p.add_argument("run", metavar="RUN", help="the run's id (or a unique prefix)")
    p.add_argument("--mlflow", metavar="URI",
                   help="the tracking URI (default: MLFLOW_TRACKING_URI, [tool.cellpipe] mlflow, else "
                        "sqlite:///<project>/mlflow.db)")
    p.add_argument("--mlflow-experiment", metavar="NAME",
                   help="the experiment (default: MLFLOW_EXPERIMENT_NAME, [tool.cellpipe] mlflow-experiment, "
                        "else the pipeline's name)")
    p.set_defaults(func=cmd_mlflow_log)
