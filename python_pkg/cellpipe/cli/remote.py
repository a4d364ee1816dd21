"""The shared cache on the command line: ``run --cache-from URL [--push]``,
``cellpipe push [RUN]`` and ``cellpipe pull [RUN]``.

The remote's URL comes from ``--cache-from``/``--to``/``--from``, else
``$CELLPIPE_REMOTE``, else ``[tool.cellpipe] remote`` in the project's
``pyproject.toml``. Credentials in a URL are never printed (nor recorded).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError

EXIT_OK = 0


def add_run_options(p: argparse.ArgumentParser) -> None:
    """``cellpipe run``'s options for the shared cache."""
    p.add_argument("--cache-from", metavar="URL",
                   help="look each step up in this shared cache before running it (a folder or an fsspec "
                        "URL such as s3://bucket/prefix; default: CELLPIPE_REMOTE or [tool.cellpipe] remote)")
    p.add_argument("--push", action="store_true",
                   help="after the run, push what it computed to the shared cache")


def add_status_options(p: argparse.ArgumentParser) -> None:
    """``cellpipe status``'s option for the shared cache."""
    p.add_argument("--cache-from", metavar="URL",
                   help="also count steps found in this shared cache as up to date "
                        "(default: CELLPIPE_REMOTE or [tool.cellpipe] remote)")


def status_remote(args: argparse.Namespace, root: Path) -> Any:
    """The shared cache ``cellpipe status`` consults, opened (None: none)."""
    from cellpipe.engine.store.remote import RemoteCache, remote_location

    url = remote_location(root, getattr(args, "cache_from", None))
    return RemoteCache.open(url) if url else None


def run_remote(args: argparse.Namespace, root: Path) -> str | None:
    """The shared cache ``cellpipe run`` uses (None: none); ``--push`` needs one."""
    from cellpipe.engine.store.remote import remote_location

    url = remote_location(root, getattr(args, "cache_from", None))
    if getattr(args, "push", False) and not url:
        raise UsageError("--push needs a shared cache: pass --cache-from URL, set CELLPIPE_REMOTE, "
                         "or set remote = \"URL\" under [tool.cellpipe] in pyproject.toml")
    return url


def after_run(args: argparse.Namespace, store: Any, url: str | None, run_id: str) -> None:
    """``--push``: push the run that just finished; what moved goes to stderr."""
    if not (getattr(args, "push", False) and url):
        return
    from cellpipe.engine.sharing import push_run
    from cellpipe.engine.store.remote import RemoteCache

    remote = RemoteCache.open(url)
    transfer = push_run(store, remote, run_id)
    _report("pushed", run_id, remote.url, transfer.to_dict(), sys.stderr)


def _report(verb: str, run_id: str, url: str, moved: dict[str, Any], stream: Any) -> None:
    steps = moved["steps"]
    print(f"{verb} run {run_id} ({len(steps)} step{'s' * (len(steps) != 1)}, {moved['objects']} object"
          f"{'s' * (moved['objects'] != 1)}, {moved['bytes'] / 1e6:.2f} MB; {moved['skipped']} already there) "
          f"{'to' if verb == 'pushed' else 'from'} {url}", file=stream)
    for note in moved["warnings"]:
        print(f"  warning: {note}", file=stream)


def _remote_and_store(args: argparse.Namespace, option: str):
    from cellpipe.engine.project import project_root_of
    from cellpipe.engine.store import Store
    from cellpipe.engine.store.remote import RemoteCache, remote_location

    start = Path.cwd().resolve()
    root = project_root_of(start) or start
    url = remote_location(root, getattr(args, "remote", None))
    if not url:
        raise UsageError(f"no shared cache named: pass {option} URL, set CELLPIPE_REMOTE, or set "
                         "remote = \"URL\" under [tool.cellpipe] in pyproject.toml")
    remote = RemoteCache.open(url)
    return root, remote, Store.open(root, getattr(args, "store", None))


def cmd_push(args: argparse.Namespace) -> int:
    from cellpipe.engine.history import find_run
    from cellpipe.engine.sharing import push_run

    root, remote, store = _remote_and_store(args, "--to")
    try:
        if args.run:
            run_id = find_run(store, args.run)["id"]
        else:
            runs = store.db.runs(limit=1)
            if not runs:
                raise UsageError(f"no run in the store {store.folder}; run `cellpipe run NOTEBOOK` first")
            run_id = runs[0]["id"]
        store.lock(f"push of {run_id}")
        transfer = push_run(store, remote, run_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"run": run_id, "remote": remote.url, **transfer.to_dict()}, indent=2))
    else:
        _report("pushed", run_id, remote.url, transfer.to_dict(), sys.stdout)
    return EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    from cellpipe.engine.sharing import pull_run

    root, remote, store = _remote_and_store(args, "--from")
    try:
        store.lock(f"pull of {args.run or 'the newest run'}")
        run_id, transfer = pull_run(store, root, remote, args.run)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"run": run_id, "remote": remote.url, **transfer.to_dict()}, indent=2))
    else:
        _report("pulled", run_id, remote.url, transfer.to_dict(), sys.stdout)
    return EXIT_OK


def register(sub: Any, store_opts: argparse.ArgumentParser) -> None:
    """Add ``push`` and ``pull`` to the ``cellpipe`` command."""
    p = sub.add_parser("push", parents=[store_opts],
                       help="push a run's results (cache entries, objects, records, notebooks) to a shared cache")
    p.add_argument("run", nargs="?", metavar="RUN", help="the run (default: the newest)")
    p.add_argument("--to", dest="remote", metavar="URL",
                   help="the shared cache (default: CELLPIPE_REMOTE or [tool.cellpipe] remote)")
    p.set_defaults(func=cmd_push)
    p = sub.add_parser("pull", parents=[store_opts],
                       help="pull a pushed run's results from a shared cache into this project's store")
    p.add_argument("run", nargs="?", metavar="RUN", help="the run (default: the newest pushed)")
    p.add_argument("--from", dest="remote", metavar="URL",
                   help="the shared cache (default: CELLPIPE_REMOTE or [tool.cellpipe] remote)")
    p.set_defaults(func=cmd_pull)
