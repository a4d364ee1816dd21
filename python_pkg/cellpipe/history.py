"""Questions about recorded runs, shared by the CLI and the server."""

from __future__ import annotations

from typing import Any

from .errors import UsageError


def find_run(store, run_id: str) -> dict:
    """The run with this id (or unique id prefix); a UsageError names recent runs otherwise."""
    run = store.db.run(run_id)
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
