"""``cellpipe checkout RUN [--step S]``: put back an earlier run's files, keeping
the current copies in the store; ``--undo`` puts those back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError


def add_command(sub: Any, store_opts: argparse.ArgumentParser) -> None:
    """The ``checkout`` command."""
    p = sub.add_parser("checkout", parents=[store_opts],
                       help="put back the out: files of an earlier run (the current copies are kept)")
    p.add_argument("run", metavar="RUN", nargs="?", help="the run whose files to put back")
    p.add_argument("--step", metavar="STEP", help="only this step's files")
    p.add_argument("--undo", action="store_true", help="put back the copies the last checkout replaced")
    p.set_defaults(func=cmd_checkout)


def cmd_checkout(args: argparse.Namespace) -> int:
    from cellpipe.engine.checkout import checkout, journal, undo
    from cellpipe.engine.history import find_run
    from cellpipe.engine.project import project_root_of
    from cellpipe.engine.store import Store, locate_store

    if bool(args.run) == bool(args.undo):
        raise UsageError("name a run to check out (cellpipe checkout RUN), or undo the last checkout "
                         "(cellpipe checkout --undo)")
    start = Path.cwd().resolve()
    folder, storage = locate_store(project_root_of(start) or start, args.store)
    if not (folder / "cellpipe.db").exists():
        raise UsageError(f"no cellpipe store at {folder}; run `cellpipe run NOTEBOOK` first, or pass --store DIR")
    store = Store(folder, storage)
    try:
        if args.undo:
            active = journal(store) or {}
            root = Path(active.get("root") or start)
            result = undo(store, root)
        else:
            root = Path(find_run(store, args.run)["root"])
            result = checkout(store, root, args.run, args.step)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"root": str(root), **result.to_dict()}, indent=2))
        return 0
    if args.undo:
        print(f"undid the checkout of run {result.run}: {len(result.restored)} file(s) put back"
              + (f", {len(result.removed)} removed (they did not exist before)" if result.removed else ""))
        for rel in result.restored:
            print(f"  {rel}")
        return 0
    what = f"run {result.run}" + (f" step {result.step}" if result.step else "")
    print(f"checked out {what}: {len(result.restored)} file(s) put back, {len(result.unchanged)} already the same")
    for rel in result.restored:
        kept = result.kept.get(rel)
        print(f"  {rel}" + (f"  (your copy is kept at {kept})" if kept else "  (new)"))
    if result.restored:
        print("undo with `cellpipe checkout --undo`; `cellpipe run` restores the newest outputs")
    return 0
