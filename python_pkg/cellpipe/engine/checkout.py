"""Rollback: put back the files an earlier run wrote (its ``out:`` files, and the
files it wrote without declaring them), all or nothing.

Every file is staged beside its target first (objects checked against their
hash), the user's current copies are kept in the object store, and a journal
(``<store>/checkout.json``) records both before the first file is replaced: a
checkout stopped half-way is finished or undone from it. ``undo`` puts the
kept copies back. ``cellpipe status`` reads the journal to say which outputs
are checked out.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.core.digest import is_digest
from cellpipe.engine.fileutil import atomic_write_text
from cellpipe.engine.history import find_run
from cellpipe.engine.store import Store
from cellpipe.engine.store.objects import CorruptObject
from cellpipe.errors import CellpipeError, UsageError

JOURNAL = "checkout.json"


@dataclass
class CheckoutResult:
    """What a checkout (or its undo) changed in the work tree."""

    run: str | None
    step: str | None
    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: path -> where the user's copy it replaced is kept (a path in the object store)
    kept: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "step": self.step, "restored": self.restored, "unchanged": self.unchanged,
                "kept": self.kept, "removed": self.removed}


def journal(store: Store) -> dict[str, Any] | None:
    """The active checkout's journal, or None."""
    try:
        return json.loads((store.folder / JOURNAL).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _listing(store: Store, run_id: str, art: dict[str, Any]) -> dict[str, str] | None:
    """The files of a folder output (``out:DIR/``), or None for a single file."""
    for row in store.db.step_runs(run_id):
        if row["step"] == art["step"] and row.get("key"):
            entry = store.db.cache_get(row["key"])
            out = (entry or {}).get("outputs", {}).get("files", {}).get(art["name"])
            if out is not None and out.get("hash") == art["hash"]:
                return dict(out["files"]) if out.get("kind") == "tree" else None
    if (store.objects.size(art["hash"]) or 0) > 1 << 20:
        return None
    try:  # the entry is gone: a tree object is the JSON listing of its files
        data = json.loads(store.objects.read_bytes(art["hash"]))
    except (ValueError, UnicodeDecodeError, CorruptObject):
        return None
    if isinstance(data, dict) and data and all(isinstance(v, str) and is_digest(v) for v in data.values()):
        return data
    return None


def _plan(store: Store, run_id: str, step: str | None) -> list[tuple[str, str]]:
    arts = [a for a in store.db.artifacts(run_id) if a["kind"] == "file" and (step is None or a["step"] == step)]
    if not arts:
        steps = sorted({r["step"] for r in store.db.step_runs(run_id)})
        if step is not None and step not in steps:
            raise UsageError(f"run {run_id} has no step {step!r}; its steps: {', '.join(steps) or 'none'}")
        raise UsageError(f"run {run_id} recorded no files" + (f" for step {step}" if step else "") +
                         " (a step's files are recorded when it declares `out:` or writes them while it runs)")
    plan: list[tuple[str, str]] = []
    for art in arts:
        listing = _listing(store, run_id, art)
        if listing is None:
            plan.append((art["name"], art["hash"]))
        else:
            plan += [(f"{art['name'].rstrip('/')}/{sub}", digest) for sub, digest in sorted(listing.items())]
    return plan


def checkout(store: Store, root: Path, run_id: str, step: str | None = None) -> CheckoutResult:
    """Put back run ``run_id``'s files (of ``step`` only, when given)."""
    run = find_run(store, run_id)
    plan = _plan(store, run["id"], step)
    result = CheckoutResult(run["id"], step)
    entries: list[dict[str, Any]] = []
    for rel, digest in plan:
        if not store.objects.verify(digest):
            raise CellpipeError(f"run {run['id']}'s copy of {rel} is missing or corrupt in the store "
                                f"({store.objects.where(digest)}); nothing was changed. Fix: check out another "
                                "run, or run `cellpipe doctor`")
        target = root / rel
        if target.exists() and not target.is_file():
            raise CellpipeError(f"{target} is a folder where run {run['id']} wrote a file; nothing was changed. "
                                "Fix: move the folder aside and check out again")
        current = store.file_hash(target) if target.is_file() else None
        if current == digest:
            result.unchanged.append(rel)
            continue
        kept = store.objects.put_file(target, current) if current else None
        entries.append({"path": rel, "restored": digest, "previous": kept})
    _swap(store, root, entries, {"run": run["id"], "step": step, "root": str(root)})
    for e in entries:
        result.restored.append(e["path"])
        if e["previous"]:
            result.kept[e["path"]] = store.objects.where(e["previous"])
    return result


def undo(store: Store, root: Path) -> CheckoutResult:
    """Put back the copies the last checkout replaced (a file it created goes)."""
    active = journal(store)
    if active is None:
        raise UsageError("no checkout to undo (`cellpipe checkout RUN` records one)")
    result = CheckoutResult(active.get("run"), active.get("step"))
    entries = []
    for e in active.get("files", []):
        target = root / e["path"]
        current = store.file_hash(target) if target.is_file() else None
        if e.get("previous") is None:
            if current is not None and current == e["restored"]:
                target.unlink()  # it was not there before the checkout; its bytes stay in the store
                result.removed.append(e["path"])
            continue
        if current == e["previous"]:
            result.unchanged.append(e["path"])
            continue
        kept = store.objects.put_file(target, current) if current else None
        entries.append({"path": e["path"], "restored": e["previous"], "previous": kept})
    _swap(store, root, entries, None)
    result.restored = [e["path"] for e in entries]
    return result


def _swap(store: Store, root: Path, entries: list[dict[str, Any]], record: dict[str, Any] | None) -> None:
    """Stage every file, write (or clear) the journal, then rename each into place."""
    staged: list[tuple[Path, Path]] = []
    try:
        for e in entries:
            target = root / e["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".checkout", dir=target.parent)
            os.close(fd)
            staged.append((Path(name), target))
            store.objects.materialize(e["restored"], Path(name), link=False)
    except BaseException:
        for part, _ in staged:
            part.unlink(missing_ok=True)
        raise
    path = store.folder / JOURNAL
    if record is not None:
        before = journal(store) or {}
        # a second checkout keeps the first one's pointers to the user's own copies
        originals = {e["path"]: e for e in before.get("files", [])}
        files = [{**e, "previous": originals[e["path"]]["previous"]} if e["path"] in originals else e
                 for e in entries]
        files += [e for p, e in originals.items() if p not in {f["path"] for f in files}]
        atomic_write_text(path, json.dumps({**record, "at": time.time(), "files": files}, indent=1))
    for part, target in staged:
        os.replace(part, target)
    if record is None:
        path.unlink(missing_ok=True)


def checked_out(store: Store, root: Path, rel: str) -> str | None:
    """The run whose copy of ``rel`` the work tree holds after a checkout, or None."""
    active = journal(store)
    if not active:
        return None
    for e in active.get("files", []):
        if e["path"] == rel and (root / rel).is_file() and store.file_hash(root / rel) == e["restored"]:
            return str(active.get("run"))
    return None
