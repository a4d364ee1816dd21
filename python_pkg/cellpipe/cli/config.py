"""The project's settings on the command line: ``cellpipe init``, and the defaults that
``[tool.cellpipe]`` (or ``cellpipe.toml``) gives ``run``, ``validate`` and ``status``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError


def _root() -> Path:
    from cellpipe.engine.project import project_root_of

    cwd = Path.cwd().resolve()
    return project_root_of(cwd) or cwd


def apply(args: argparse.Namespace) -> None:
    """Fill what the command line left out from the project's settings; the command line wins."""
    from cellpipe.engine import settings

    if not args.notebooks:
        root = _root()
        found = settings.notebooks(root)
        if not found:
            raise UsageError(
                f"no NOTEBOOK given, and {settings.settings_file(root)} lists no notebooks. Fix: name them "
                f"(cellpipe {args.command} a.ipynb b.ipynb), or run `cellpipe init` to list the project's "
                "notebooks in [tool.cellpipe] notebooks")
        args.notebooks = [str(p) for p in found]
    if args.command not in ("run", "status"):
        return
    root = _root()
    args.config_params = [str(p) for p in settings.params_files(root)]
    if args.command != "run":
        return
    if args.jobs is None:
        jobs = settings.number(root, "jobs", integer=True)
        args.jobs = int(jobs) if jobs is not None else None
    if args.executor is None:
        args.executor = settings.setting(root, "executor", "an executor's name: local or dask") or "local"
    if args.timeout_step is None:
        args.timeout_step = settings.number(root, "timeout-step")


def cmd_init(args: argparse.Namespace) -> int:
    """Write ``[tool.cellpipe]`` from the notebooks with steps under the project's root."""
    from cellpipe.engine.configure import init_project

    result = init_project(_root())
    verb = "created" if result.created else "added [tool.cellpipe] to"
    print(f"{verb} {result.path}: {len(result.notebooks)} notebook{'s' * (len(result.notebooks) != 1)}")
    for name in result.notebooks:
        print(f"  {name}")
    print("`cellpipe run` now runs them; edit the file to change the list or set jobs, executor, params")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``init`` on the ``cellpipe`` command's subparsers."""
    p = sub.add_parser("init", help="write [tool.cellpipe] in pyproject.toml (or cellpipe.toml) from the "
                       "notebooks with steps found here")
    p.set_defaults(func=cmd_init)
