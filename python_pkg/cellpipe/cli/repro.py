"""``cellpipe repro RUN`` and ``cellpipe run --twice``: run again without the
cache and compare every output and metric with the first run; exit 3 when
something differs beyond ``--tolerance``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError

EXIT_OK, EXIT_USAGE, EXIT_CHECK = 0, 2, 3


def add_arguments(run_parser: argparse.ArgumentParser) -> None:
    """``--twice`` and ``--tolerance`` of ``cellpipe run``."""
    run_parser.add_argument("--twice", action="store_true",
                            help="run again without the cache and compare outputs and metrics; exit 3 if they differ")
    run_parser.add_argument("--tolerance", type=float, default=0.0, metavar="X",
                            help="with --twice: numbers, arrays and frames may differ by up to X (max abs diff)")


def add_command(sub: Any, store_opts: argparse.ArgumentParser) -> None:
    """The ``repro`` command."""
    p = sub.add_parser("repro", parents=[store_opts],
                       help="run a recorded run again without the cache and compare; exit 3 if it differs")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--tolerance", type=float, default=0.0, metavar="X",
                   help="numbers, arrays and frames may differ by up to X (max abs diff)")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="steps run at once (default: the cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the comparison")
    p.set_defaults(func=cmd_repro)


def cmd_repro(args: argparse.Namespace) -> int:
    """Run RUN's notebooks again with its parameters, without the cache, and compare."""
    from cellpipe.cli.main import _open_store
    from cellpipe.engine.history import find_run
    from cellpipe.engine.project import compile_paths

    store = _open_store(args)
    try:
        run = find_run(store, args.run)
    finally:
        store.close()
    root = Path(run["root"])
    notebooks = [str(root / nb) for nb in run["notebooks"] or []]
    missing = [nb for nb in notebooks if not Path(nb).is_file()]
    if missing:
        raise UsageError(f"run {run['id']} ran {', '.join(missing)}, which no longer exist; "
                         "restore them (git checkout) to reproduce it")
    result, root = compile_paths(notebooks, root, store=getattr(args, "store", None))
    if not result.ok or result.pipeline is None:
        for diag in result.diagnostics:
            print(diag.format(), file=sys.stderr)
        return EXIT_USAGE
    params = {nb: dict(values) for nb, values in (run["params"] or {}).items()}
    return compare_again(args, result.pipeline, root, run["id"], params)


def compare_again(args: argparse.Namespace, pipeline: Any, root: Path, first: str,
                  params: dict[str, dict[str, Any]]) -> int:
    """Run ``pipeline`` again without the cache; print how it compares with run ``first``."""
    from cellpipe.cli.report import Progress, make_console
    from cellpipe.engine.repro import compare, rerun
    from cellpipe.engine.store import Store

    if args.tolerance < 0:
        raise UsageError("--tolerance must be 0 or more")
    json_out = getattr(args, "json", False)
    console = make_console(stderr=json_out)
    store = Store.open(root, getattr(args, "store", None))
    try:
        if not json_out:
            console.print(f"running again without the cache to compare with run {first}", highlight=False)
        with Progress(console, pipeline.step_names, quiet=getattr(args, "quiet", False) or json_out) as progress:
            second = rerun(pipeline, root, store, params, jobs=getattr(args, "jobs", None) or 0,
                           argv=sys.argv[1:], on_change=progress.update)
        if second.exit_code == 130:
            return 130
        report = compare(store, pipeline, first, second.run_id, args.tolerance)
    finally:
        store.close()
    code = EXIT_OK if report.reproduced else EXIT_CHECK
    if json_out:
        print(json.dumps({**report.to_dict(), "exit_code": code}, indent=2, default=str))
    else:
        for line in report_lines(report):
            print(line)
    return code


def report_lines(report: Any) -> list[str]:
    """The comparison as text: each differing step, what differs, by how much, and why."""
    lines = [f"run {report.second} (no cache) vs run {report.first}, tolerance {report.tolerance:g}"]
    for comp in report.differing:
        origin = "" if not comp.upstream else f" (follows from upstream step {', '.join(comp.upstream)})"
        lines.append(f"step {comp.step} differs{origin}:")
        for d in comp.differences:
            size = f", max abs diff {d.size:.6g}" if d.size is not None else ""
            note = f", {d.note}" if d.note else ""
            lines.append(f"  {d.kind} {d.name}: {d.before} -> {d.after}{size}{note}")
        for cause in comp.causes:
            lines.append(f"  likely cause: {cause}")
    for step, why in report.not_compared.items():
        lines.append(f"step {step} not compared: {why}")
    within = sum(len(s.within_tolerance) for s in report.steps)
    if report.reproduced:
        lines.append(f"reproduced: {report.compared} step{'s' * (report.compared != 1)} gave the same outputs "
                     f"and metrics" + (f" ({within} within the tolerance)" if within else ""))
    else:
        lines.append(f"not reproduced: {len(report.differing)} of {report.compared} steps differ"
                     + (f", {len(report.not_compared)} not compared" if report.not_compared else ""))
    return lines
