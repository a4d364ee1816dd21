"""``cellpipe gc``: free the store of old runs and of objects nothing needs.

Which runs go: with ``keep_last`` and/or ``older_than``, a run goes when it is
not among the ``keep_last`` newest and (with ``older_than``) started longer ago
than that; with neither, every run stays and only objects nothing refers to go.
A run recorded ``running`` always stays.

What always stays: the objects of every kept run (its artifacts), the cache
entries kept runs made or used (and their objects), and the objects whose bytes
are an ``out:`` file of the work tree now (a cache hit restores them). The user's
files are never touched: an object hard-linked to a work-tree file frees nothing
and is counted so.

Safe against a concurrent run: gc holds the store's lock, so it waits for
(or refuses, like a second run) a run in progress, and a run started meanwhile
waits for gc. The records go first, in one transaction; files after: a gc killed
half-way leaves only objects nothing refers to, which the next gc frees.
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.engine.store import Store
from cellpipe.engine.store.objects import PREFIX
from cellpipe.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (a bare number: days) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text or "")
    if not match:
        raise UsageError(f"--older-than {text[:40]!r} is not an age; write e.g. 30d, 12h, 2w or 90m")
    return float(match.group(1)) * _UNITS[match.group(2) or "d"]


@dataclass
class Plan:
    """What a gc removes (or, with ``--dry-run``, would remove), and the bytes it frees."""

    runs: list[str] = field(default_factory=list)
    kept_runs: list[str] = field(default_factory=list)
    cache_entries: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)  # digests
    object_bytes: int = 0
    run_folder_bytes: int = 0
    dry_run: bool = False

    @property
    def freed(self) -> int:
        return self.object_bytes + self.run_folder_bytes

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "removed_runs": self.runs, "kept_runs": len(self.kept_runs),
                "removed_cache_entries": len(self.cache_entries), "removed_objects": len(self.objects),
                "freed_bytes": self.freed}


def _digests(outputs: dict[str, Any]) -> set[str]:
    found = {art["hash"] for art in (outputs.get("variables") or {}).values() if art.get("hash")}
    for art in (outputs.get("files") or {}).values():
        if art.get("kind") == "tree":
            found |= set((art.get("files") or {}).values())
        if art.get("hash"):
            found.add(art["hash"])
    return found


def _folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            st = path.lstat()
        except OSError:
            continue
        if path.is_file() and not path.is_symlink() and st.st_nlink == 1:
            total += st.st_size
    return total


def _work_tree_needs(store: Store, roots: set[str]) -> set[str]:
    """Digests of recorded ``out:`` files (and files of recorded folders) whose
    work-tree copy holds those bytes now."""
    needed: set[str] = set()
    rows = store.db.conn.execute("SELECT DISTINCT name, hash FROM artifacts WHERE kind='file'").fetchall()
    cache = store.db.conn.execute("SELECT outputs FROM cache").fetchall()
    files: dict[str, set[str]] = {}
    for row in rows:
        files.setdefault(row["name"], set()).add(row["hash"])
    for row in cache:  # folders: the digest of each file in them
        for path, art in (json.loads(row["outputs"]).get("files") or {}).items():
            for rel, digest in (art.get("files") or {}).items():
                files.setdefault(posixpath.join(path, rel), set()).add(digest)
    for root in roots:
        for name, digests in files.items():
            path = Path(root) / name
            try:
                if path.is_file() and store.file_hash(path) in digests:
                    needed.add(store.file_hash(path))
            except OSError:
                continue
    return needed


def plan(store: Store, keep_last: int | None = None, older_than: float | None = None,
         now: float | None = None) -> Plan:
    """Decide what goes; reads only."""
    now = time.time() if now is None else now
    runs = store.db.runs()  # newest first
    result = Plan()
    for n, run in enumerate(runs):
        goes = keep_last is not None or older_than is not None
        if keep_last is not None and n < keep_last:
            goes = False
        if older_than is not None and run["started"] > now - older_than:
            goes = False
        if run["state"] == "running":
            goes = False
        (result.runs if goes else result.kept_runs).append(run["id"])
    conn = store.db.conn
    kept = set(result.kept_runs)
    kept_keys = {r["key"] for r in conn.execute("SELECT run_id, key FROM step_runs").fetchall()
                 if r["run_id"] in kept and r["key"]}
    needed: set[str] = set()
    for row in conn.execute("SELECT key, run_id, outputs FROM cache").fetchall():
        if row["run_id"] in kept or row["key"] in kept_keys:
            needed |= _digests(json.loads(row["outputs"]))
        else:
            result.cache_entries.append(row["key"])
    for row in conn.execute("SELECT run_id, hash FROM artifacts").fetchall():
        if row["run_id"] in kept:
            needed.add(row["hash"])
    needed |= _work_tree_needs(store, {r["root"] for r in runs if r.get("root")})
    for key in store.storage.keys(PREFIX):
        name = posixpath.basename(key)
        if name.startswith("."):
            continue  # a write in progress, or a killed one's leftover: doctor's to judge
        digest = "".join(key.split("/")[-2:])
        if digest in needed:
            continue
        result.objects.append(digest)
        local = store.storage.local_path(key)
        if local is not None:
            try:
                st = local.stat()
                result.object_bytes += st.st_size if st.st_nlink == 1 else 0
            except OSError:
                pass
        else:
            result.object_bytes += store.storage.size(key) or 0
    for run_id in result.runs:
        folder = store.run_folder(run_id)
        if folder.is_dir():
            result.run_folder_bytes += _folder_size(folder)
    return result


def collect(store: Store, keep_last: int | None = None, older_than: float | None = None,
            dry_run: bool = False, wait: float = 0.0) -> Plan:
    """Free the store; holds the store's lock (a run in progress makes it wait ``wait`` s, then refuse)."""
    if keep_last is not None and keep_last < 0:
        raise UsageError("--keep-last must be 0 or more")
    if dry_run:
        found = plan(store, keep_last, older_than)
        found.dry_run = True
        return found
    store.lock("gc", wait=wait)
    try:
        found = plan(store, keep_last, older_than)
        with store.db.transaction() as c:
            for run_id in found.runs:
                for table in ("metrics", "artifacts", "step_runs"):
                    c.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))  # noqa: S608 - fixed names
                c.execute("DELETE FROM runs WHERE id=?", (run_id,))
            for key in found.cache_entries:
                c.execute("DELETE FROM cache WHERE key=?", (key,))
        for run_id in found.runs:
            shutil.rmtree(store.run_folder(run_id), ignore_errors=True)
            if not store.local:
                for key in list(store.storage.keys(f"runs/{run_id}")):
                    store.storage.remove(key)
        for digest in found.objects:
            store.objects.remove(digest)
        return found
    finally:
        store.unlock()
