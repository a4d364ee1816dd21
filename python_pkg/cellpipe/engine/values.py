"""Reading recorded values back from the store: a variable a step saved (by its
object hash and format), and the run a check compares with (its baseline)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from cellpipe.engine.serialize import load_value
from cellpipe.engine.store import Store

_EXTENSIONS = {"arrow": "arrow", "parquet": "parquet", "npy": "npy", "pickle": "pkl"}
#: step states in which a step's checks passed (it finished, or an earlier success was reused)
PASSED = ("done", "cached")


def load_artifact(store: Store, digest: str, fmt: str | None) -> Any:
    """The value stored under ``digest`` in format ``fmt`` (``arrow``, ``parquet``, ``npy``, ``pickle``)."""
    fmt = fmt or "pickle"
    with tempfile.TemporaryDirectory(prefix="cellpipe-value-") as tmp:
        name = f"value.{_EXTENSIONS.get(fmt, 'bin')}"
        store.objects.materialize(digest, Path(tmp) / name, link=False)
        return load_value(Path(tmp), {"file": name, "format": fmt})


def baseline_run(store: Store, step: str, notebook: str | None = None, chosen: str | None = None,
                 exclude: str | None = None) -> dict[str, Any] | None:
    """The run a check of ``step`` compares with: ``chosen`` (a run id or its
    prefix), else the newest run other than ``exclude`` in which ``step``
    passed (``done`` or ``cached``): the last good run."""
    if chosen:
        return store.db.run(chosen)
    for run in store.db.runs(limit=200):
        if run["id"] == exclude:
            continue
        for row in store.db.step_runs(run["id"]):
            if row["step"] == step and (notebook is None or row["notebook"] == notebook) and row["state"] in PASSED:
                return run
    return None


def run_variable(store: Store, run_id: str, name: str, step: str | None = None) -> tuple[Any, str] | None:
    """Variable ``name`` as run ``run_id`` recorded it (made by ``step``, or by
    any step): the value and the step that made it; None when not recorded."""
    for art in store.db.artifacts(run_id):
        if art["kind"] == "variable" and art["name"] == name and (step is None or art["step"] == step):
            return load_artifact(store, art["hash"], art.get("format")), art["step"]
    return None


def run_metric(store: Store, run_id: str, name: str) -> Any:
    """Metric ``name`` of run ``run_id`` (any step), or None."""
    for m in store.db.metrics(run_id):
        if m["name"] == name:
            return m["value"]
    return None
