"""``cellpipe gc [--keep-last N] [--older-than AGE] [--dry-run]``: free the store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cellpipe.errors import UsageError


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def cmd_gc(args: argparse.Namespace) -> int:
    from cellpipe.engine.gc import collect, parse_age
    from cellpipe.engine.project import project_root_of
    from cellpipe.engine.store import Store, locate_store

    older = parse_age(args.older_than) if args.older_than is not None else None
    start = Path.cwd().resolve()
    folder, storage = locate_store(project_root_of(start) or start, args.store)
    if not (folder / "cellpipe.db").exists():
        raise UsageError(f"no cellpipe store at {folder}; pass --store DIR, or run from the project's folder")
    store = Store(folder, storage)
    try:
        result = collect(store, args.keep_last, older, dry_run=args.dry_run, wait=args.wait)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"store": str(folder), **result.to_dict()}, indent=2))
        return 0
    verb = "would free" if args.dry_run else "freed"
    print(f"{verb} {_size(result.freed)} in {folder}: {len(result.runs)} run{'s' * (len(result.runs) != 1)}, "
          f"{len(result.objects)} object{'s' * (len(result.objects) != 1)}, "
          f"{len(result.cache_entries)} cache entr{'ies' if len(result.cache_entries) != 1 else 'y'}"
          f"; {len(result.kept_runs)} run{'s' * (len(result.kept_runs) != 1)} kept")
    for run_id in result.runs:
        print(f"  {'would remove' if args.dry_run else 'removed'} run {run_id}")
    return 0


def add_parser(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``cellpipe gc``."""
    p = sub.add_parser("gc", parents=parents,
                       help="free the store: old runs, and objects no kept run, cache entry or out: file needs")
    p.add_argument("--keep-last", type=int, metavar="N", help="keep the N newest runs (and older ones "
                   "--older-than keeps); without either option, every run stays")
    p.add_argument("--older-than", metavar="AGE", help="remove runs started longer ago than AGE (30d, 12h, 2w)")
    p.add_argument("--dry-run", action="store_true", help="print what would go; remove nothing")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a run holding the store (default: refuse at once)")
    p.set_defaults(func=cmd_gc)
