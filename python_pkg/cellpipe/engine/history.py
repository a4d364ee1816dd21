"""Questions about recorded runs, shared by the CLI and the server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError

#: what a record that still says ``running`` is when its process is gone
DEAD = "interrupted"


def run_alive(run: dict[str, Any]) -> bool:
    """Whether the process that recorded this run still runs it: its pid exists
    and that process is older than the run (a pid can be reused after a crash)."""
    pid = run.get("pid")
    if not pid:
        return False
    import psutil

    try:
        created = psutil.Process(int(pid)).create_time()
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, OSError, ValueError):
        return True  # another user's process: it exists, its age is not ours to read
    return created <= (run.get("started") or 0) + 1.0


def settled(run: dict[str, Any], alive=run_alive) -> dict[str, Any]:
    """The run with its real state: a record still ``running`` whose process is
    gone (killed with SIGKILL, the machine restarted) is ``interrupted``, and
    ``alive`` says whether its process runs."""
    is_alive = run["state"] == "running" and alive(run)
    state = DEAD if run["state"] == "running" and not is_alive else run["state"]
    return {**run, "state": state, "alive": is_alive}


def settled_steps(run: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Step rows of a settled run: those a dead run left ``running`` or ``pending`` were interrupted."""
    if run["state"] == "running":
        return steps
    return [{**s, "state": DEAD} if s["state"] in ("running", "pending") else s for s in steps]


def _utf8(text: str) -> bool:
    """Whether ``text`` is UTF-8 text (an argument of non-UTF-8 bytes arrives with surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find_run(store, run_id: str) -> dict:
    """The run with this id (or unique id prefix); a UsageError names recent runs otherwise."""
    run = store.db.run(run_id) if _utf8(run_id) else None
    if run is None:
        known = ", ".join(r["id"] for r in store.db.runs(limit=5))
        raise UsageError(f"no run {run_id!r} in the store; recent runs: {known or 'none'}")
    return run


def run_diff(store, a: str, b: str) -> dict[str, Any]:
    """Parameters, metrics and artifact hashes that differ between two runs."""
    run_a, run_b = find_run(store, a), find_run(store, b)

    def flat_params(run):
        return {f"{nb}:{k}": v for nb, ps in (run["params"] or {}).items() for k, v in ps.items()}

    def by_key(rows, key, value):
        return {key(r): value(r) for r in rows}

    pa, pb = flat_params(run_a), flat_params(run_b)
    ma = by_key(store.db.metrics(run_a["id"]), lambda r: f"{r['step']}.{r['name']}", lambda r: r["value"])
    mb = by_key(store.db.metrics(run_b["id"]), lambda r: f"{r['step']}.{r['name']}", lambda r: r["value"])
    aa = by_key(store.db.artifacts(run_a["id"]), lambda r: f"{r['step']}:{r['kind']}:{r['name']}", lambda r: r["hash"])
    ab = by_key(store.db.artifacts(run_b["id"]), lambda r: f"{r['step']}:{r['kind']}:{r['name']}", lambda r: r["hash"])

    def changed(x, y):
        return {k: [x.get(k), y.get(k)] for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)}

    return {"a": run_a["id"], "b": run_b["id"], "params": changed(pa, pb), "metrics": changed(ma, mb),
            "artifacts": changed(aa, ab)}


def trace(store, path: Path, shown_as: str | None = None) -> dict[str, Any]:
    """Which run, step, code, parameters, inputs and environment produced the
    current content of ``path``; a UsageError says why when no recorded run did."""
    from cellpipe.engine.fileutil import hash_file

    shown = shown_as or str(path)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL character: no such file
        is_file = False
    if not is_file:
        raise UsageError(f"{shown} is not a file")
    try:
        digest = hash_file(path)
    except OSError as exc:
        raise UsageError(f"cannot read {shown}: {exc.strerror or exc}") from exc
    producers = [p for p in store.db.artifact_producers(digest) if p["kind"] == "file"]
    if not producers:
        rel = _rel_to_run_root(store, path)
        history = store.db.file_history(rel) if _utf8(rel) else []  # runs record UTF-8 paths only
        hint = (f"; it was last produced by run {history[0]['run_id']} step {history[0]['step']}, and has "
                "changed since" if history else "; it is not an `out:` file of any recorded run")
        raise UsageError(f"no recorded run produced the current content of {shown}{hint}")
    first = producers[0]
    return {"path": shown, "hash": digest, **lineage(store, first["run_id"], first["step"])}


def lineage(store, run_id: str, step: str) -> dict[str, Any]:
    """What made the outputs of ``step`` in run ``run_id``: the run and step that
    executed it (the earlier run a cached step was restored from), its code key
    and cells, parameters, input variables and files, files read at run time,
    local modules, environment and output notebook."""
    steps = {s["step"]: s for s in store.db.step_runs(run_id)}
    if step not in steps:
        raise UsageError(f"run {run_id} has no step {step!r}; its steps: {', '.join(sorted(steps)) or 'none'}")
    origin = steps[step]
    if origin.get("cached_from"):
        origin = {s["step"]: s for s in store.db.step_runs(origin["cached_from"])}.get(step, origin)
    run = find_run(store, origin["run_id"])
    parts = origin.get("parts") or {}
    return {
        "run": run["id"], "step": origin["step"], "notebook": origin["notebook"],
        "started": run["started"], "git_commit": run.get("git_commit"), "git_dirty": bool(run.get("git_dirty")),
        "code_key": origin.get("key"), "code_cells": (parts.get("where") or {}).get("code"),
        "parameters": parts.get("params"), "input_variables": parts.get("variables"),
        "input_files": parts.get("files"), "files_read": parts.get("read") or {}, "modules": parts.get("modules"),
        "environment": parts.get("env"), "output_notebook": origin.get("output_notebook"),
    }


def _rel_to_run_root(store, path: Path) -> str:
    runs = store.db.runs(limit=1)
    root = Path(runs[0]["root"]) if runs else Path.cwd()
    return Path(os.path.relpath(path.resolve(), root)).as_posix()
