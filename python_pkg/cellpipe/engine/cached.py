"""The output notebook of a cached step: the run folder holds every step's notebook.

A step reused from the cache did not run in this run, but what its cells printed
is what the run that made its outputs printed. That run may be this very run (a
twin step: the same code on equal inputs, earlier in the notebook) or an earlier
one, and the cells may sit elsewhere in the source notebook now. The notebook
that made the values is copied into this run's folder, its step cells pointing at
this step's cells, so the run folder shows, cell by cell, what every step printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cellpipe.engine.fileutil import atomic_write_text
from cellpipe.engine.store import Store
from cellpipe.model import Pipeline, Step


def origin_notebook(store: Store, entry: dict[str, Any]) -> Path | None:
    """The output notebook of the execution a cache entry comes from, when it is on this disk."""
    found = store.db.output_notebook(entry["run_id"], entry["step"])
    if found is None:
        return None
    path = Path(found)
    return path if path.is_file() else None


def copy_for(store: Store, pipeline: Pipeline, step: Step, entry: dict[str, Any], dest: Path) -> Path | None:
    """Write the notebook that made ``entry`` to ``dest`` as ``step``'s output
    notebook (its step cells re-pointed at ``step``'s source cells); None when that
    notebook is not available (a remote store, a deleted run folder)."""
    source = origin_notebook(store, entry)
    if source is None:
        return None
    info = pipeline.notebook(step.notebook)
    code = [ref.index + 1 for ref in step.cells if info.cells[ref.index].cell_type == "code"]
    where = (entry.get("parts") or {}).get("where") or {}
    if entry["step"] == step.name and where.get("code") == code:
        # the same step, its cells where they were: the notebook as it is (a link costs nothing)
        if _link(source, dest):
            return dest
    try:
        nb = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    mine = {kind: [info.cells[ref.index] for ref in step.cells if info.cells[ref.index].cell_type == kind]
            for kind in ("code", "markdown", "raw")}
    theirs: dict[str, list[dict[str, Any]]] = {"code": [], "markdown": [], "raw": []}
    for cell in nb.get("cells", []):
        meta = (cell.get("metadata") or {}).get("cellpipe") or {}
        if meta.get("role") == "step" and cell.get("cell_type") in theirs:
            theirs[cell["cell_type"]].append(meta)
    for kind, metas in theirs.items():
        if len(metas) != len(mine[kind]):
            if kind == "code":
                return None  # not the same cells: better no notebook than one naming the wrong cells
            continue
        for meta, cell in zip(metas, mine[kind], strict=True):
            meta["source"] = {"notebook": info.path, "index": cell.index, "number": cell.index + 1, "id": cell.id}
    top = nb.setdefault("metadata", {}).setdefault("cellpipe", {})
    top["step"] = step.name
    top["cached_from"] = {"run": entry["run_id"], "step": entry["step"]}
    atomic_write_text(dest, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return dest


def _link(source: Path, dest: Path) -> bool:
    """``dest`` becomes a hard link to ``source`` (both are the store's, never edited)."""
    try:
        dest.unlink(missing_ok=True)
        os.link(source, dest)
        return True
    except OSError:
        return False
