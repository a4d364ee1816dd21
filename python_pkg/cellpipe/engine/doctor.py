"""``cellpipe doctor``: check a store, and repair what is safe to repair.

Checks, each with what ``--repair`` does about it:

* the metadata database passes SQLite's ``PRAGMA integrity_check`` (not
  repaired: the fix is to move the store aside and run again);
* every object's bytes hash to its name (a corrupt object is removed, and the
  cache entries that need it are dropped: the steps run again);
* temporary files a killed write left in the object store (removed);
* cache entries whose objects are gone (dropped);
* step records of runs that do not exist (removed);
* runs recorded ``running`` whose process is gone (recorded ``interrupted``);
* processes left running by killed runs (stopped);
* a lock held by a process that is not the run it names (reported).

Repairs never touch the user's work tree, output notebooks or objects that are
sound. A store in use by a live run is checked but not repaired.
"""

from __future__ import annotations

import fcntl
import json
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from cellpipe.engine.executors import procs
from cellpipe.engine.history import run_alive
from cellpipe.engine.store import Store
from cellpipe.engine.store.objects import PREFIX

OK, FIXED, PROBLEM = "ok", "repaired", "problem"


@dataclass
class Finding:
    """One check's outcome: ``ok``, ``problem`` (with what was found) or ``repaired``."""

    check: str
    state: str
    details: list[str] = field(default_factory=list)
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "state": self.state, "details": self.details, "fix": self.fix}


@dataclass
class Report:
    findings: list[Finding]
    busy: dict[str, Any] | None = None  # the live run holding the store, when there is one

    @property
    def healthy(self) -> bool:
        return all(f.state != PROBLEM for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "busy": self.busy, "checks": [f.to_dict() for f in self.findings]}


def _lock_holder(store: Store) -> tuple[bool, dict[str, Any]]:
    """(whether a process holds the store's lock now, what the lock file says)."""
    path = store.folder / "lock"
    if not path.exists():
        return False, {}
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        except ValueError:
            holder = {"unreadable": True}
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, holder
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, holder
    finally:
        os.close(fd)


def _database(store: Store) -> Finding:
    rows = [r[0] for r in store.db.conn.execute("PRAGMA integrity_check").fetchall()]
    if rows == ["ok"]:
        return Finding("database integrity", OK)
    return Finding("database integrity", PROBLEM, rows[:20],
                   f"the metadata database {store.db.path} is damaged: move the store folder aside "
                   "(objects and output notebooks stay readable there) and run the pipeline again")


def _objects(store: Store, repair: bool) -> tuple[list[Finding], set[str]]:
    """Corrupt objects and leftover temporary files; returns the corrupt digests."""
    corrupt: list[str] = []
    temporary: list[str] = []
    for key in store.storage.keys(PREFIX):
        name = posixpath.basename(key)
        if name.startswith(".") and name.endswith(".tmp"):
            temporary.append(key)
            continue
        digest = "".join(key.split("/")[-2:])
        if not store.objects.verify(digest):
            corrupt.append(digest)
    findings = []
    if corrupt:
        if repair:
            for digest in corrupt:
                store.objects.storage.remove(store.objects.key(digest))
        findings.append(Finding("object hashes", FIXED if repair else PROBLEM,
                                [f"{store.objects.where(d)} does not hash to its name" for d in corrupt],
                                "removed; the steps that made them run again" if repair else
                                "cellpipe doctor --repair removes them; the steps that made them run again"))
    else:
        findings.append(Finding("object hashes", OK))
    if temporary:
        if repair:
            for key in temporary:
                store.storage.remove(key)
        findings.append(Finding("unfinished writes", FIXED if repair else PROBLEM,
                                [store.storage.where(k) for k in temporary],
                                "removed" if repair else "temporary files of a killed write: "
                                "cellpipe doctor --repair removes them"))
    else:
        findings.append(Finding("unfinished writes", OK))
    return findings, set(corrupt)


def _digests(outputs: dict[str, Any]) -> list[str]:
    found = [art["hash"] for art in outputs.get("variables", {}).values()]
    for art in outputs.get("files", {}).values():
        found += list(art.get("files", {}).values()) if art.get("kind") == "tree" else [art["hash"]]
    return found


def _dangling(store: Store, corrupt: set[str], repair: bool) -> list[Finding]:
    conn = store.db.conn
    broken = []
    for row in conn.execute("SELECT key, step, notebook, outputs FROM cache").fetchall():
        missing = [d for d in _digests(json.loads(row["outputs"]))
                   if d in corrupt or not store.objects.has(d)]
        if missing:
            broken.append((row["key"], f"step {row['step']} of {row['notebook'] or '?'}: "
                                       f"{len(missing)} stored output(s) missing"))
    orphans = conn.execute(
        "SELECT DISTINCT run_id FROM step_runs WHERE run_id NOT IN (SELECT id FROM runs)").fetchall()
    findings = []
    if broken:
        if repair:
            for key, _ in broken:
                store.db.cache_drop(key)
        findings.append(Finding("cache entries", FIXED if repair else PROBLEM, [b[1] for b in broken],
                                "dropped: those steps run again" if repair else
                                "cellpipe doctor --repair drops them (those steps run again)"))
    else:
        findings.append(Finding("cache entries", OK))
    if orphans:
        ids = [r[0] for r in orphans]
        if repair:
            with store.db.transaction() as c:
                for run_id in ids:
                    c.execute("DELETE FROM step_runs WHERE run_id=?", (run_id,))
        findings.append(Finding("step records", FIXED if repair else PROBLEM,
                                [f"step records of run {i}, which has no run record" for i in ids],
                                "removed" if repair else "cellpipe doctor --repair removes them"))
    else:
        findings.append(Finding("step records", OK))
    return findings


def _runs_and_processes(store: Store, repair: bool, busy: bool) -> list[Finding]:
    findings = []
    dead = [r for r in store.db.conn.execute("SELECT id, pid, started FROM runs WHERE state='running'").fetchall()
            if not run_alive(dict(r))]
    if dead:
        if repair and not busy:
            store.db.mark_abandoned_runs(lambda pid: pid not in {r["pid"] for r in dead})
        findings.append(Finding("unfinished runs", FIXED if repair and not busy else PROBLEM,
                                [f"run {r['id']} is recorded running, but its process (pid {r['pid']}) is gone"
                                 for r in dead],
                                "recorded as interrupted" if repair and not busy else
                                "cellpipe doctor --repair records them as interrupted (runs already show them so)"))
    else:
        findings.append(Finding("unfinished runs", OK))
    live = {r["id"] for r in store.db.conn.execute("SELECT id, pid, started FROM runs WHERE state='running'")
            .fetchall() if run_alive(dict(r))}
    left = [p for p in procs.leftovers(store.folder) if p.run_id not in live]
    if left:
        still = procs.stop(left) if repair else left
        findings.append(Finding("leftover processes", PROBLEM if still else FIXED,
                                [p.describe() for p in left],
                                ("stopped" if not still else "could not stop: " + "; ".join(p.describe() for p in still))
                                if repair else "cellpipe doctor --repair stops them (the next run does too)"))
    else:
        findings.append(Finding("leftover processes", OK))
    return findings


def _lock(store: Store) -> tuple[Finding, dict[str, Any] | None]:
    """The store's lock: free, held by a live run (then nothing is repaired), or
    held by a process that is not the run the lock names (a leftover)."""
    held, holder = _lock_holder(store)
    if not held:
        return Finding("lock", OK, ["free"]), None
    pid = holder.get("pid")
    if isinstance(pid, int) and procs_alive(pid):
        return Finding("lock", OK, [f"held by run {holder.get('run', '?')} (pid {pid}), which is running: "
                                    "checked only, nothing repaired"]), holder
    return Finding("lock", PROBLEM, [f"held by a process other than run {holder.get('run', '?')} "
                                     f"(pid {pid}), which is gone"],
                   "stop the process holding it (see leftover processes; `fuser` names it)"), holder


def procs_alive(pid: int) -> bool:
    from cellpipe.engine.store import pid_alive

    return pid_alive(pid)


def check(store: Store, repair: bool = False) -> Report:
    """Check ``store``; with ``repair``, repair what is safe to repair (nothing
    while a live run holds the store)."""
    lock, busy = _lock(store)
    fix = repair and busy is None
    findings = [_database(store)]
    if findings[0].state == PROBLEM:
        fix = False  # a damaged database is not written to
    object_findings, corrupt = _objects(store, fix)
    findings += object_findings
    findings += _dangling(store, corrupt, fix)
    findings += _runs_and_processes(store, fix, busy is not None)
    findings.append(lock)
    return Report(findings, busy)
