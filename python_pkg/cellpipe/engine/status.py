"""``cellpipe status``: each step up to date or stale, and the first reason.

One predicate with a reason (DVC's ``Stage.changed()``): the key a run would
compute is compared with the step's last successful execution, and
:func:`cellpipe.core.cachekey.explain` names the first part that differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellpipe.core import cachekey as cache
from cellpipe.engine.checkout import checked_out
from cellpipe.engine.keys import KeyParts
from cellpipe.engine.store import Store, artifacts
from cellpipe.engine.store.remote import RemoteCache
from cellpipe.model import Pipeline


@dataclass
class StepReport:
    """``cellpipe status`` for one step: up to date or stale, and the first reason."""

    step: str
    notebook: str
    up_to_date: bool
    reason: str
    last_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "notebook": self.notebook, "up_to_date": self.up_to_date,
                "reason": self.reason, "last_run": self.last_run}


def status(pipeline: Pipeline, root: Path, store: Store, params: dict[str, dict[str, Any]],
           remote: RemoteCache | None = None) -> list[StepReport]:
    """Each step up to date or stale, and why; nothing is run or written but the stat cache.

    With a shared cache, a step missing here but found there is up to date: a run
    fetches it instead of running it (the reason names the run that computed it)."""
    keys = KeyParts(pipeline, root, store)
    outputs: dict[str, dict[str, Any]] = {}  # of the up-to-date steps: their inputs' hashes
    reports: list[StepReport] = []
    stale: set[str] = set()
    for step in pipeline.steps:
        upstream = [d for d in step.depends_on if d in stale]
        latest = store.db.cache_latest(step.name, step.notebook)
        last_run = latest["run_id"] if latest else None
        if upstream:
            reports.append(StepReport(step.name, step.notebook, False, f"upstream step {upstream[0]} is stale",
                                      last_run))
            stale.add(step.name)
            continue
        parts = keys.parts(step, outputs, params.get(step.notebook))
        parts = keys.with_files_read(step, parts)
        hit = store.db.cache_get(cache.key_of(parts))
        if hit and artifacts.present(store, hit["outputs"]):
            outputs[step.name] = hit["outputs"]
            missing = [rel for rel, art in hit["outputs"].get("files", {}).items()
                       if art.get("kind") != "tree" and not _same_file(store, root / rel, art["hash"])]
            reason = "up to date" if not missing else (
                f"up to date; output {missing[0]} is missing or changed (cellpipe run restores it)")
            origin = checked_out(store, root, missing[0]) if missing else None
            if origin:
                reason = (f"up to date; output {missing[0]} is run {origin}'s copy, checked out (cellpipe "
                          "checkout --undo puts back the copy it replaced; cellpipe run restores the newest)")
            if step.nocache:
                reason += " (nocache: runs every time)"
            reports.append(StepReport(step.name, step.notebook, True, reason, hit["run_id"]))
            continue
        shared = remote.lookup(cache.key_of(parts)) if remote is not None and not hit else None
        if shared is not None:
            outputs[step.name] = shared["outputs"]
            reports.append(StepReport(step.name, step.notebook, True,
                                      f"in the shared cache {remote.url if remote else ''} (run {shared['run_id']}); "
                                      "cellpipe run fetches it", shared["run_id"]))
            continue
        why = "stored outputs missing" if hit else (cache.explain(latest["parts"] if latest else None, parts)
                                                     or "changed")
        reports.append(StepReport(step.name, step.notebook, False, why, last_run))
        stale.add(step.name)
    return reports


def _same_file(store: Store, path: Path, digest: str) -> bool:
    return path.is_file() and store.file_hash(path) == digest
