"""The ``cellpipe`` command: parse arguments, call the library, print, exit.

Exit codes: 0 ok, 1 a step failed, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import CellpipeError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    from .project import compile_paths

    result, _ = compile_paths(args.notebooks)
    if args.json:
        print(json.dumps({"ok": not result.errors, "diagnostics": [d.to_dict() for d in result.diagnostics]}, indent=2))
    else:
        _print_diagnostics(result.diagnostics, sys.stdout)
        steps = f", {len(result.pipeline.steps)} steps" if result.pipeline and not result.errors else ""
        print(_summary(result.diagnostics, len(args.notebooks)) + steps)
    return EXIT_USAGE if result.errors else EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    from .project import compile_paths, write_build

    result, root = compile_paths(args.notebooks)
    _print_diagnostics(result.diagnostics, sys.stderr)
    if result.errors or result.pipeline is None:
        print(_summary(result.diagnostics, len(args.notebooks)) + "; nothing written", file=sys.stderr)
        return EXIT_USAGE
    written = write_build(result.pipeline, Path(args.output), root)
    out = Path(args.output)
    print(f"compiled {len(result.pipeline.steps)} steps from {len(args.notebooks)} notebook"
          f"{'s' * (len(args.notebooks) != 1)} into {out}/")
    print(f"  {out / 'pipeline.json'}")
    for path in written[1:]:
        print(f"  {out / 'steps' / path.name}")
    return EXIT_OK


def cmd_dag(args: argparse.Namespace) -> int:
    from . import graph
    from .project import compile_paths

    result, _ = compile_paths(args.notebooks)
    if result.errors or result.pipeline is None:
        _print_diagnostics(result.diagnostics, sys.stderr)
        print(_summary(result.diagnostics, len(args.notebooks)), file=sys.stderr)
        return EXIT_USAGE
    render = {"text": graph.render_text, "mermaid": graph.render_mermaid, "dot": graph.render_dot}[args.format]
    print(render(result.pipeline))
    return EXIT_OK


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
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("validate", help="check the notebooks; exit 2 on errors")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.add_argument("--json", action="store_true", help="print the problems as JSON")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("dag", help="print the step graph")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.add_argument("--format", choices=("text", "mermaid", "dot"), default="text")
    p.set_defaults(func=cmd_dag)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return args.func(args)
    except CellpipeError as exc:
        print(f"cellpipe: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cellpipe: interrupted", file=sys.stderr)
        return 130


def run() -> None:  # console-script entry point
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
