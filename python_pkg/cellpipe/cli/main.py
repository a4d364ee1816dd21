"""The ``cellpipe`` command: parse arguments, call the library, print, exit.

Exit codes: 0 ok, 1 a step failed, 2 bad input or usage, 3 a check failed (a check cell, doctor, a
reproducibility comparison), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from cellpipe._version import __version__
from cellpipe.cli import checkout as checkout_cli
from cellpipe.cli import config as config_cli
from cellpipe.cli import remote as remote_cli
from cellpipe.cli import repro as repro_cli
from cellpipe.cli import tracking as tracking_cli
from cellpipe.errors import CellpipeError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHECK = 0, 1, 2, 3


def _print_diagnostics(diagnostics, stream) -> None:
    for diag in diagnostics:
        print(diag.format(), file=stream)


def _summary(diagnostics, notebooks: int) -> str:
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    return (
        f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)} "
        f"in {notebooks} notebook{'s' * (notebooks != 1)}"
    )


def cmd_validate(args: argparse.Namespace) -> int:
    from cellpipe.engine.project import compile_paths

    config_cli.apply(args)  # no NOTEBOOK: the project's [tool.cellpipe] notebooks
    result, root = compile_paths(args.notebooks, check_kernels=True)
    if args.format == "github":  # workflow annotations on the pull request's lines (engine/annotations.py)
        from cellpipe.engine.annotations import github_annotations

        for line in github_annotations(result.diagnostics, root):
            print(line)
        print(_summary(result.diagnostics, len(args.notebooks)))
    elif args.format == "json":
        from cellpipe.engine.annotations import json_diagnostics

        print(json.dumps(json_diagnostics(result.diagnostics), indent=2))
    elif args.json:
        print(json.dumps({"ok": not result.errors, "diagnostics": [d.to_dict() for d in result.diagnostics]}, indent=2))
    else:
        _print_diagnostics(result.diagnostics, sys.stdout)
        steps = f", {len(result.pipeline.steps)} steps" if result.pipeline and not result.errors else ""
        print(_summary(result.diagnostics, len(args.notebooks)) + steps)
    return EXIT_USAGE if result.errors else EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    from cellpipe.engine.project import compile_paths, write_build

    result, root = compile_paths(args.notebooks)
    _print_diagnostics(result.diagnostics, sys.stderr)
    if result.errors or result.pipeline is None:
        print(_summary(result.diagnostics, len(args.notebooks)) + "; nothing written", file=sys.stderr)
        return EXIT_USAGE
    written = write_build(result.pipeline, Path(args.output), root, fmt=args.format)
    out = Path(args.output)
    print(f"compiled {len(result.pipeline.steps)} steps from {len(args.notebooks)} notebook"
          f"{'s' * (len(args.notebooks) != 1)} into {out}/")
    print(f"  {out / 'pipeline.json'}")
    for path in written[1:]:
        print(f"  {out / 'steps' / path.name}")
    return EXIT_OK


def cmd_dag(args: argparse.Namespace) -> int:
    from cellpipe.core import graph

    pipeline, _ = _compiled(args)
    if pipeline is None:
        return EXIT_USAGE
    render = {"text": graph.render_text, "mermaid": graph.render_mermaid, "dot": graph.render_dot}[args.format]
    print(render(pipeline))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from cellpipe.core.overrides import parse_assignments
    from cellpipe.engine.export import ExportOptions, export

    options = ExportOptions(image=args.image, overrides=parse_assignments(args.param or []), data_uri=args.data_uri)
    report = export(args.kind, args.notebooks, args.output, options,
                    on_diagnostics=lambda diags: _print_diagnostics(diags, sys.stderr))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return EXIT_OK
    print(f"exported {report.steps} step{'s' * (report.steps != 1)} to {report.kind}: {report.path}")
    if report.parameters:
        print(f"  parameters: {', '.join(report.parameters)}")
    for note in report.notes:
        print(f"  note: {note}")
    return EXIT_OK


# -- running and the store ----------------------------------------------------


def _store(args: argparse.Namespace, root: Path):
    """The store ``--store`` / ``$CELLPIPE_STORE`` names (a folder or an fsspec URL), else the root's."""
    from cellpipe.engine.store import Store

    return Store.open(root, getattr(args, "store", None))


def _compiled(args: argparse.Namespace, check_kernels: bool = False):
    from cellpipe.engine.project import compile_paths

    result, root = compile_paths(args.notebooks, check_kernels=check_kernels, store=getattr(args, "store", None))
    if result.errors or result.pipeline is None:
        _print_diagnostics(result.diagnostics, sys.stderr)
        print(_summary(result.diagnostics, len(args.notebooks)), file=sys.stderr)
        if getattr(args, "json", False):  # CI reading --json gets the problems as JSON too
            print(json.dumps({"state": "invalid", "exit_code": EXIT_USAGE,
                              "diagnostics": [d.to_dict() for d in result.diagnostics]}, indent=2))
        return None, root
    return result.pipeline, root


def _overrides(args: argparse.Namespace, pipeline) -> dict:
    from cellpipe.core.overrides import parse_assignments, resolve
    from cellpipe.engine.project import load_params_file

    values: dict = {}
    for path in getattr(args, "config_params", None) or []:  # [tool.cellpipe] params, then the command line
        values.update(load_params_file(path))
    if getattr(args, "params_file", None):
        values.update(load_params_file(args.params_file))
    values.update(parse_assignments(getattr(args, "param", None) or []))
    return resolve(pipeline, values)


def cmd_run(args: argparse.Namespace) -> int:
    from cellpipe.cli.report import Progress, make_console, print_summary
    from cellpipe.engine.executors.procs import reset_signals
    from cellpipe.engine.runner import Runner, RunOptions, select

    tracking_cli.take_back_notebook(args)  # `run --mlflow a.ipynb`: a notebook, not a tracking URI
    config_cli.apply(args)  # no NOTEBOOK, -j, --executor, --timeout-step: the project's [tool.cellpipe]
    pipeline, root = _compiled(args, check_kernels=True)
    if pipeline is None:
        return EXIT_USAGE
    tracking = tracking_cli.before_run(args, root)  # --mlflow without MLflow: refused before any step runs
    params = _overrides(args, pipeline)
    select(pipeline, args.only, args.from_steps)  # unknown step names are usage errors
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("-j must be at least 1")
    remote_url = remote_cli.run_remote(args, root)
    options = RunOptions(params=params, jobs=args.jobs or 0, only=args.only, from_steps=args.from_steps,
                         force=args.force, wait=args.wait, argv=sys.argv[1:], executor=args.executor,
                         executor_options={"address": args.address} if args.address else {},
                         cache_from=remote_url, timeout_step=args.timeout_step)
    if args.address and args.executor == "local":
        raise UsageError("--address names a Dask scheduler: use it with --executor dask")
    reset_signals()  # started in the background (nohup, a server started so): Ctrl-C and Cancel still stop it
    console = make_console(stderr=args.json)
    store = _store(args, root)

    def recompile():
        from cellpipe.engine.project import compile_paths

        again, _ = compile_paths(args.notebooks, root, store=getattr(args, "store", None))
        return again.pipeline if again.ok else None

    try:
        with Progress(console, pipeline.step_names, quiet=args.quiet or args.json) as progress:
            result = Runner(pipeline, root, store, options, on_change=progress.update,
                            recompile=recompile).run()
        remote_cli.after_run(args, store, remote_url, result.run_id)
        logged = tracking_cli.after_run(store, tracking, result.run_id, pipeline)  # never fails the run
    finally:
        store.close()
    if args.twice and result.exit_code == EXIT_OK:  # again without the cache, compared (cli/repro.py)
        from cellpipe.cli.repro import compare_again

        if not args.json:
            print_summary(console, result, args.quiet)
        tracking_cli.report(args, logged)
        return compare_again(args, pipeline, root, result.run_id, params)
    if args.json:
        print(json.dumps({**result.to_dict(), **({"mlflow": logged} if logged else {})}, indent=2, default=str))
    else:
        print_summary(console, result, args.quiet)
    tracking_cli.report(args, logged)  # after the summary: where the run was logged, or MLflow's failure
    return result.exit_code  # 0 ok, 1 a step failed, 3 a check failed, 130 interrupted


def cmd_status(args: argparse.Namespace) -> int:
    from cellpipe.engine.status import status

    config_cli.apply(args)
    pipeline, root = _compiled(args)
    if pipeline is None:
        return EXIT_USAGE
    params = _overrides(args, pipeline)
    store = _store(args, root)
    try:
        reports = status(pipeline, root, store, params, remote=remote_cli.status_remote(args, root))
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        width = max((len(r.step) for r in reports), default=0)
        for r in reports:
            print(f"{r.step.ljust(width)}  {'up to date' if r.up_to_date else 'stale':10}  {r.reason}")
    return EXIT_OK


def _open_store(args: argparse.Namespace, near: Path | None = None):
    """The store of the project holding ``near`` (default: the working directory),
    found upward as for notebooks; ``--store``/``CELLPIPE_STORE`` win."""
    from cellpipe.engine.project import project_root_of
    from cellpipe.engine.store import Store, locate_store

    start = (near or Path.cwd()).resolve()
    folder, storage = locate_store(project_root_of(start) or start, getattr(args, "store", None))
    if not (folder / "cellpipe.db").exists():
        raise UsageError(f"no cellpipe store at {folder}; run `cellpipe run NOTEBOOK` first, or pass --store DIR")
    return Store(folder, storage, readonly=True)


def cmd_runs(args: argparse.Namespace) -> int:
    from cellpipe.cli.report import make_console, runs_table
    from cellpipe.engine.checkresults import run_checks
    from cellpipe.engine.history import settled

    store = _open_store(args)
    try:
        runs = [settled(r) for r in store.db.runs(limit=args.limit)]
        metrics = {r["id"]: store.db.metrics(r["id"]) for r in runs}
        checks = {r["id"]: run_checks(store.db.step_runs(r["id"])) for r in runs}
    finally:
        store.close()
    if args.json:
        print(json.dumps([{**r, "metrics": metrics[r["id"]], "checks": checks[r["id"]]} for r in runs],
                         indent=2, default=str))
    elif not runs:
        print(f"no runs recorded yet in {store.folder}; `cellpipe run NOTEBOOK` records one")
    else:
        make_console().print(runs_table(runs, metrics, checks))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from cellpipe.cli.report import (
        make_console,
        show,  # noqa: I001
        timings_table,
    )
    from cellpipe.engine.history import find_run, settled, settled_steps
    from cellpipe.engine.timings import totals

    store = _open_store(args)
    try:
        if args.run is None:  # the newest run
            newest = store.db.runs(limit=1)
            if not newest:
                raise UsageError("no runs in the store yet. Fix: cellpipe run NOTEBOOK first (or give --store DIR)")
            args.run = newest[0]["id"]
        run = settled(find_run(store, args.run))
        steps, artifacts, metrics = (settled_steps(run, store.db.step_runs(run["id"])),
                                     store.db.artifacts(run["id"]), store.db.metrics(run["id"]))
    finally:
        store.close()
    if args.json:
        print(json.dumps({"run": run, "steps": steps, "artifacts": artifacts, "metrics": metrics,
                          "timings": totals(steps)}, indent=2, default=str))
    elif args.timings:
        console = make_console()
        console.print(f"run {run['id']}  {run['state']}  pipeline {run['pipeline']}", highlight=False)
        console.print(timings_table(steps))
    else:
        show(make_console(), run, steps, artifacts, metrics)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from cellpipe.engine.history import run_diff

    store = _open_store(args)
    try:
        diff = run_diff(store, args.run_a, args.run_b)
    finally:
        store.close()
    if args.json:
        print(json.dumps(diff, indent=2, default=str))
        return EXIT_OK
    print(f"run {diff['a']} -> run {diff['b']}")
    for section in ("params", "metrics", "artifacts"):
        rows = diff[section]
        print(f"{section}: " + ("no differences" if not rows else ""))
        for key, (old, new) in rows.items():
            if section == "artifacts":
                old, new = (old or "-")[:12], (new or "-")[:12]
            print(f"  {key}: {old} -> {new}")
    return EXIT_OK


def cmd_trace(args: argparse.Namespace) -> int:
    from cellpipe.engine.history import trace

    try:
        near = Path(args.path).resolve().parent
    except (OSError, ValueError) as exc:  # a NUL character, a symlink loop: no such file
        raise UsageError(f"{args.path} is not a file") from exc
    store = _open_store(args, near)
    try:
        info = trace(store, Path(args.path), shown_as=args.path)
    finally:
        store.close()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return EXIT_OK
    digest = info["hash"]
    print(f"{args.path} ({digest[:12]}) was produced by")
    print(f"  run {info['run']}, step {info['step']} of {info['notebook']} (cells {info['code_cells']})")
    print(f"  commit {info['git_commit'] or '-'}{' with uncommitted changes' if info['git_dirty'] else ''}")
    print(f"  step key {info['code_key']}")
    for label, key in (("parameters", "parameters"), ("input variables", "input_variables"),
                       ("input files", "input_files"), ("files read at run time", "files_read"), ("local modules", "modules"), ("environment", "environment")):
        values = info[key] or {}
        text = ", ".join(f"{k}={str(v)[:12] if key != 'parameters' else v}" for k, v in values.items()) or "none"
        print(f"  {label}: {text}")
    if info["output_notebook"]:
        print(f"  output notebook: {info['output_notebook']}")
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # not a number, or more digits than Python converts: as good as no limit
        value = sys.maxsize if text.isascii() and text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a positive whole number")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a positive number of seconds")
    return value


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the store; exit 0 when healthy (or repaired), 3 when a problem remains."""
    from cellpipe.engine.doctor import PROBLEM, Finding, Report, check
    from cellpipe.engine.store import Store, locate_store

    folder, storage = locate_store(Path.cwd(), getattr(args, "store", None))
    if not (folder / "cellpipe.db").exists():
        raise UsageError(f"no cellpipe store at {folder}; pass --store DIR, or run from the project's root")
    try:
        store = Store(folder, storage, readonly=not args.repair)
    except sqlite3.DatabaseError as exc:
        report = Report([Finding("database integrity", PROBLEM, [str(exc)],
                                 f"the metadata database {folder / 'cellpipe.db'} cannot be read: move the store "
                                 "folder aside and run the pipeline again")])
    else:
        try:
            report = check(store, repair=args.repair)
        finally:
            store.close()
    if args.json:
        print(json.dumps({"store": str(folder), **report.to_dict()}, indent=2))
    else:
        print(f"store {folder}")
        for f in report.findings:
            print(f"  {f.state:9} {f.check}")
            for line in f.details[:20]:
                print(f"            {line}")
            if len(f.details) > 20:
                print(f"            ... and {len(f.details) - 20} more")
            if f.fix and f.state != "ok":
                print(f"            -> {f.fix}")
        print("healthy" if report.healthy else "problems found" + ("" if args.repair else
                                                                  "; cellpipe doctor --repair repairs what is safe"))
    return EXIT_OK if report.healthy else EXIT_CHECK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellpipe",
        description="Turn tagged exploration notebooks into reproducible pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"cellpipe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("compile", help="write pipeline.json and one papermill notebook per step")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.add_argument("-o", "--output", default="build", metavar="DIR", help="output folder (default: build)")
    p.add_argument("--format", choices=("ipynb", "py"), default="ipynb",
                   help="write the steps as notebooks (default) or jupytext percent scripts (py)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("validate", help="check the notebooks; exit 2 on errors")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="default: [tool.cellpipe] notebooks")
    p.add_argument("--json", action="store_true", help="print the problems as JSON")
    p.add_argument("--format", choices=("text", "github", "json"), default="text",
                   help="github: annotations for GitHub Actions; json: a list of the problems")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("dag", help="print the step graph")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.add_argument("--format", choices=("text", "mermaid", "dot"), default="text")
    p.set_defaults(func=cmd_dag)

    p = sub.add_parser("run", help="run the pipeline: parallel, cached, recorded")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="default: [tool.cellpipe] notebooks")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="set a parameter (NOTEBOOK.NAME=VALUE for one notebook); repeatable")
    p.add_argument("--params", dest="params_file", metavar="FILE", help="parameters from a YAML or JSON file")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="steps run at once (default: the cores)")
    p.add_argument("--only", action="append", default=[], metavar="STEP", help="run only this step; repeatable")
    p.add_argument("--from", dest="from_steps", action="append", default=[], metavar="STEP",
                   help="run this step and everything downstream; repeatable")
    p.add_argument("--force", action="store_true", help="run the selected steps even when cached")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    p.add_argument("--store", metavar="DIR",
                   help="the store folder (default: .cellpipe in the project's root; or CELLPIPE_STORE)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run holding the store (default: refuse at once)")
    p.add_argument("--executor", metavar="NAME",
                   help="what runs the steps: local (default) or dask (pip install 'cellpipe[dask]')")
    p.add_argument("--address", metavar="URL",
                   help="the Dask scheduler, tcp://HOST:8786 (default: a local cluster for the run)")
    remote_cli.add_run_options(p)
    repro_cli.add_arguments(p)
    p.add_argument("--timeout-step", type=_positive_seconds, metavar="SECONDS",
                   help="fail a step that runs longer than this (a step's timeout:SECONDS tag wins)")
    tracking_cli.add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("export", help="write the pipeline for Kubeflow Pipelines (kfp) or Argo Workflows (argo)")
    p.add_argument("kind", metavar="KIND", help="kfp or argo (or an exporter added by a plug-in)")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the YAML file to write")
    p.add_argument("--image", metavar="IMAGE",
                   help="container image of the steps (default: cellpipe-runtime:VERSION, see the README)")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="default of a parameter in the export (NOTEBOOK.NAME=VALUE for one notebook); repeatable")
    p.add_argument("--data-uri", metavar="URI",
                   help="where the cluster finds the project's in: files (s3://BUCKET/PREFIX, gs://...)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=cmd_export)

    # the options every command over the store takes
    store_opts = argparse.ArgumentParser(add_help=False)
    store_opts.add_argument("--store", metavar="DIR",
                            help="the store folder (default: .cellpipe in the project's root; or CELLPIPE_STORE)")
    store_opts.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("status", parents=[store_opts], help="each step up to date or stale, and why")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK", help="default: [tool.cellpipe] notebooks")
    p.add_argument("-p", "--param", action="append", metavar="NAME=VALUE")
    p.add_argument("--params", dest="params_file", metavar="FILE")
    remote_cli.add_status_options(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("runs", parents=[store_opts], help="the recorded runs")
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="show the N newest runs")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", parents=[store_opts],
                       help="one run: steps, states, times, parameters, metrics, artifacts")
    p.add_argument("run", metavar="RUN", nargs="?", help="a run id or unique prefix (default: the newest run)")
    p.add_argument("--timings", action="store_true",
                   help="where each step's time went: kernel, load inputs, its code, save outputs, record")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("diff", parents=[store_opts],
                       help="parameters, metrics and artifacts that differ between two runs")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("trace", parents=[store_opts],
                       help="which run, step, code, parameters and inputs produced this file")
    p.add_argument("path", metavar="PATH")
    p.set_defaults(func=cmd_trace)
    p = sub.add_parser("doctor", parents=[store_opts],
                       help="check the store (database, objects, records, leftover processes); exit 3 on problems")
    p.add_argument("--repair", action="store_true", help="repair what is safe to repair")
    p.set_defaults(func=cmd_doctor)

    from cellpipe.cli import sweep as sweep_cli  # noqa: PLC0415 - each command module registers itself

    sweep_cli.add_parser(sub)
    from cellpipe.cli import report_cmd

    report_cmd.add_parser(sub, [store_opts])
    remote_cli.register(sub, store_opts)
    repro_cli.add_command(sub, store_opts)
    checkout_cli.add_command(sub, store_opts)
    from cellpipe.cli import gc

    gc.add_parser(sub, [store_opts])
    config_cli.add_parser(sub)
    tracking_cli.add_command(sub, store_opts)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if getattr(args, "command", None) in ("run", "sweep", "repro"):
            from cellpipe.engine import stopping

            with stopping.handled(signal.SIGINT):  # a Ctrl-C cannot be lost, even while importing
                return args.func(args)
        return args.func(args)
    except CellpipeError as exc:
        print(f"cellpipe: {exc}", file=sys.stderr)
        if getattr(args, "json", False) and args.command in ("run", "sweep"):
            print(json.dumps({"state": "invalid", "exit_code": exc.exit_code, "message": str(exc)}, indent=2))
        return exc.exit_code
    except sqlite3.OperationalError as exc:  # locked, read-only, a disk error: the store is healthy
        print(f"cellpipe: the store's database cannot be used now ({exc}). Fix: check that the store folder "
              "(.cellpipe, or --store DIR) is writable and its disk not full, then run again", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:  # a mistake in a query: a bug of ours, not a bad store
            return _internal_error(args, exc)
        print(f"cellpipe: the store's database cannot be used ({exc}). Fix: move the store folder "
              "(.cellpipe, or --store DIR) aside and run again; its objects and run folders stay readable",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cellpipe: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cellpipe ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug of ours: one sentence, the traceback on request
        return _internal_error(args, exc)


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    """Report a bug of ours in one sentence naming what the command worked on."""
    import os
    import traceback

    if os.environ.get("CELLPIPE_DEBUG"):
        traceback.print_exception(exc)
    notebooks = getattr(args, "notebooks", None) or []
    subject = getattr(args, "path", None) or getattr(args, "run", None)
    what = f"cellpipe {args.command}"
    if notebooks:
        what += f" of {', '.join(notebooks)}"
    elif subject:
        what += f" of {subject}"
    print(f"cellpipe: internal error in {what} ({type(exc).__name__}: {str(exc)[:300]}). This is a bug in "
          "cellpipe, not in your notebooks; run again with CELLPIPE_DEBUG=1 to see the traceback and report it",
          file=sys.stderr)
    return EXIT_USAGE


def run() -> None:  # console-script entry point
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
