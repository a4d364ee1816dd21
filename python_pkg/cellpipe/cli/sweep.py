"""``cellpipe sweep``: a grid, a random sample or a Bayesian search over the
parameters, every trial an ordinary cached run. Thin: parse, call
:class:`cellpipe.engine.sweep.Sweeper`, print, set the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

EXIT_USAGE = 2

EPILOG = """spaces (-p NAME=SPACE, or `# sweep: SPACE` after a parameter in the parameters cell):
  a,b,c          these values
  lo..hi         every whole number lo..hi (grid), or a uniform range (random, Bayesian)
  lo..hi log     the same on a log scale
  v              one value: fixed for every trial
examples:
  cellpipe sweep nb.ipynb -p n_estimators=50,100,200 -p max_depth=3..8 --optimize forest_roc_auc:max
  cellpipe sweep nb.ipynb -p 'C=0.01..10 log' --random 20 --seed 1
  cellpipe sweep nb.ipynb -p 'n_estimators=10..500 log' --optimize forest_roc_auc:max --trials 30
  cellpipe sweep nb.ipynb --resume --trials 10"""


def add_parser(sub: Any) -> None:
    """Register ``cellpipe sweep`` on the main parser's subcommands."""
    p = sub.add_parser("sweep", help="run a grid, a random sample or a Bayesian search over parameters",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=SPACE",
                   help="a parameter's values (a,b,c), range (lo..hi [log]) or fixed value; repeatable")
    p.add_argument("--params", dest="params_file", metavar="FILE", help="fixed parameters from a YAML or JSON file")
    p.add_argument("--random", type=int, metavar="N", help="N parameter sets drawn at random instead of the grid")
    p.add_argument("--seed", type=int, metavar="S", help="seed of --random and of the Bayesian sampler")
    p.add_argument("--optimize", action="append", default=[], metavar="METRIC:max|min",
                   help="the objective (repeat for a multi-objective search); ranks the trials")
    p.add_argument("--trials", type=int, metavar="N", help="with --optimize: N trials of a Bayesian search (optuna)")
    p.add_argument("--where", action="append", default=[], metavar="METRIC<VALUE",
                   help="a constraint (<, <=, >, >=): trials breaking it are never the best; repeatable")
    p.add_argument("--resume", nargs="?", const="latest", metavar="SWEEP",
                   help="continue a sweep (default: the newest): the grid's missing trials, or N more trials")
    p.add_argument("-j", "--jobs", type=int, default=0, metavar="N", help="steps of a trial run at once")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final table")
    p.add_argument("--store", metavar="DIR",
                   help="the store folder (default: .cellpipe in the project's root; or CELLPIPE_STORE)")
    from cellpipe.cli import tracking

    tracking.add_run_options(p)  # each trial logged as an MLflow run tagged with the sweep
    p.set_defaults(func=cmd_sweep)


def _spaces(items: list[str]) -> dict[str, str]:
    from cellpipe.errors import UsageError

    out: dict[str, str] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p {item!r}: write NAME=SPACE, e.g. -p max_depth=3..8 or -p n_estimators=50,100")
        out[name.strip()] = text
    return out


def cmd_sweep(args: argparse.Namespace) -> int:
    from cellpipe.cli import tracking
    from cellpipe.cli.main import _compiled
    from cellpipe.cli.report import make_console
    from cellpipe.engine.executors.procs import reset_signals
    from cellpipe.engine.project import compile_paths, load_params_file
    from cellpipe.engine.store import Store
    from cellpipe.engine.sweep import Sweeper, SweepRequest

    tracking.take_back_notebook(args)
    pipeline, root = _compiled(args, check_kernels=True)
    if pipeline is None:
        return EXIT_USAGE
    target = tracking.before_run(args, root)  # --mlflow without MLflow: refused before any trial runs
    request = SweepRequest(
        notebooks=list(args.notebooks), spaces=_spaces(args.param),
        fixed=load_params_file(args.params_file) if args.params_file else {}, random=args.random, seed=args.seed,
        objectives=args.optimize, constraints=args.where, trials=args.trials, resume=args.resume,
        jobs=args.jobs, argv=sys.argv[1:])
    console = make_console(stderr=args.json)
    reset_signals()

    def recompile():
        again, _ = compile_paths(args.notebooks, root, store=args.store)
        return again.pipeline if again.ok else None

    store = Store.open(root, args.store)
    try:
        logger = tracking.TrialLogger(store, target, pipeline)
        sweeper = Sweeper(pipeline, root, store, request, recompile=recompile,
                          on_trial=logger.wrap(None if args.quiet or args.json else _trial_line(console)))
        result = sweeper.prepare()
        if not (args.quiet or args.json):
            console.print(f"sweep {result.sweep_id}: {result.kind}"
                          + f" over {', '.join(f'{d.name}={d.text}' for d in result.dims)}",
                          highlight=False)
        result = sweeper.run()
    finally:
        store.close()
    if args.json:
        print(json.dumps({**result.to_dict(), **({"mlflow": logger.summary()} if target else {})}, indent=2,
                         default=str))
    else:
        print_result(console, result)
    logger.report(args)
    return result.exit_code


def _trial_line(console: Console):
    def show(trial, result) -> None:
        params = " ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
        if trial.state == "running":
            return
        values = ", ".join(f"{o.metric}={_fmt(trial.metrics.get(o.metric))}" for o in result.objectives)
        console.print(f"trial {trial.number} {params}: {trial.state} run {trial.run_id} in {trial.seconds:.1f}s "
                      f"({len(trial.executed)} executed, {len(trial.cached)} cached)"
                      + (f"  {values}" if values else ""), highlight=False)
    return show


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def print_result(console: Console, result: Any) -> None:
    """The step reuse line, the trials table (best first), the best set and the command to rerun it."""
    if result.steps:
        console.print("steps: " + "; ".join(f"{name}: executed {c['executed']}x, cached {c['cached']}x"
                                            for name, c in result.steps.items()), highlight=False)
    table = Table(title=f"sweep {result.sweep_id} ({result.kind}, {len(result.trials)} trials)",
                  title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    for dim in result.dims:
        table.add_column(dim.name, justify="right")
    for obj in result.objectives:
        table.add_column(f"{obj.metric} ({obj.direction[:3]})", justify="right")
    for con in result.constraints:
        table.add_column(str(con), justify="right")
    table.add_column("state")
    table.add_column("run")
    pareto = {t.number for t in result.pareto} if len(result.objectives) > 1 else set()
    best = result.best
    for trial in result.ranked:
        mark = "*" if (best is not None and trial is best) or trial.number in pareto else ""
        row = [f"{trial.number}{mark}", *(_fmt(trial.params.get(d.name)) for d in result.dims),
               *(_fmt(v) for v in (trial.values or [None] * len(result.objectives)))]
        row += [_fmt(trial.metrics.get(c.metric)) + ("" if trial.feasible or trial.values is None else " ✗")
                for c in result.constraints]
        row += [trial.state, trial.run_id or ""]
        table.add_row(*row)
    console.print(table)
    if len(result.objectives) > 1:
        console.print(f"Pareto front ({len(result.pareto)} trials, marked *): "
                      + ", ".join(str(t.number) for t in result.pareto), highlight=False)
        for trial in result.pareto:
            console.print(f"  trial {trial.number}: {result.rerun_command(trial)}", highlight=False)
    elif best is not None:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        console.print(f"best: trial {best.number} ({params}) {result.objectives[0].metric}="
                      f"{_fmt(best.values[0] if best.values else None)}, run {best.run_id}", highlight=False)
        console.print(f"rerun it: {result.rerun_command(best)}", highlight=False)
    elif result.objectives:
        console.print("no trial met the objective" + (" and the constraints" if result.constraints else ""),
                      highlight=False)
    console.print(f"sweep {result.sweep_id} {result.state} in {result.seconds:.1f}s", highlight=False)
