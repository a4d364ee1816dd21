"""Sharing step results between machines through a shared cache
(:class:`~cellpipe.engine.store.remote.RemoteCache`).

- :class:`SharedLookup`: what a run asks when its own store has no entry for a
  step's key; a hit is fetched into the local store (objects checked by hash),
  recorded with the run and step that computed it, and reused like a local hit.
- :func:`push_run`: a finished run's cache entries, objects, records and run
  folder go to the shared cache (what ``--push`` and ``cellpipe push`` do).
- :func:`pull_run`: a pushed run's records, objects and run folder come into the
  local store (``cellpipe pull``), and its steps' entries into the local cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cellpipe.core import cachekey
from cellpipe.engine.keys import KeyParts
from cellpipe.engine.store import Store, exchange
from cellpipe.engine.store.objects import CorruptObject
from cellpipe.engine.store.remote import RemoteCache, Transfer
from cellpipe.errors import UsageError

#: step states whose outputs a run can share
SHAREABLE = ("done", "cached")


class SharedLookup:
    """A run's look-ups in a shared cache, after its own store missed."""

    def __init__(self, remote: RemoteCache, store: Store, root: Path) -> None:
        self.remote = remote
        self.store = store
        self.root = root
        self.transfer = Transfer()
        #: step name -> why a shared entry for it could not be used
        self.notes: dict[str, str] = {}
        self.broken: str | None = None  # the shared cache stopped answering: no more look-ups
        self._said_broken = False
        self._entries: dict[str, dict[str, Any] | None] = {}  # this run's look-ups, by key

    def _lookup(self, key: str) -> dict[str, Any] | None:
        if key not in self._entries:
            self._entries[key] = self.remote.lookup(key)
        return self._entries[key]

    def notes_for(self, step: str) -> list[str]:
        """Why the shared cache could not serve ``step`` (each said once)."""
        notes = [self.notes.pop(step)] if step in self.notes else []
        if self.broken is not None and not self._said_broken:
            notes.append(self.broken)
            self._said_broken = True
        return notes

    def with_files_read(self, keys: KeyParts, parts: dict[str, Any]) -> dict[str, Any]:
        """A step's key parts as :meth:`KeyParts.with_files_read` gave them; when the
        local store has no entry under them, the parts with the first set of files
        (read at run time) an entry in the shared cache covers, as they are here."""
        if self.broken is not None or self.store.db.cache_get(cachekey.key_of(parts)) is not None:
            return parts
        base = (parts.get("where") or {}).get("base") or cachekey.key_of(parts)
        try:
            if self._lookup(cachekey.key_of(parts)) is not None:
                return parts
            for names in self.remote.read_sets(base):
                full = cachekey.with_read(parts, keys.read_hashes(names), base)
                if self._lookup(cachekey.key_of(full)) is not None:
                    return full
        except Exception:  # noqa: BLE001 - a backend's network error: find() reports it
            return parts
        return parts

    def find(self, key: str) -> dict[str, Any] | None:
        """The local cache entry made from the shared one under ``key``, or None."""
        if self.broken is not None:
            return None
        try:
            data = self._lookup(key)
        except Exception as exc:  # noqa: BLE001 - any backend's network error: the run goes on without it
            self.broken = (f"the shared cache {self.remote.url} stopped answering ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); steps run here")
            return None
        if data is None:
            return None
        try:
            return self.remote.adopt(self.store, self.root, data, self.transfer)
        except CorruptObject as exc:
            self.notes[data["step"]] = (f"the shared cache's object {exc.where} was corrupt: it was dropped "
                                        "and the step runs here")
            return None
        except Exception as exc:  # noqa: BLE001 - any backend's network error: the run goes on without it
            self.broken = (f"the shared cache {self.remote.url} stopped answering ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); steps run here")
            return None


def push_run(store: Store, remote: RemoteCache, run_id: str) -> Transfer:
    """Push a run: every step it ran or reused (its cache entry and objects), then
    its portable records and run folder. Idempotent: what is there is skipped."""
    db = store.db
    run = db.run(run_id, prefix=False)
    if run is None:
        raise UsageError(f"no run {run_id!r} in the store")
    transfer = Transfer()
    steps = db.step_runs(run_id)
    folder = store.run_folder(run_id)
    notebooks: dict[str, str] = {}
    if store.local and folder.is_dir():
        prefix = remote.run_key(run_id, "")
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith(".request.json"):
                rel = path.relative_to(folder).as_posix()
                remote.storage.put_file(prefix + rel, path)
                notebooks[rel] = prefix + rel
    elif not store.local:
        for key in store.storage.keys(f"runs/{run_id}"):
            rel = key.split("/", 2)[2]
            remote.storage.put_bytes(remote.run_key(run_id, rel), store.storage.read_bytes(key))
            notebooks[rel] = remote.run_key(run_id, rel)
    portable_steps = []
    for step in steps:
        name = Path(step["output_notebook"]).name if step.get("output_notebook") else None
        portable = exchange.portable_step(step, notebooks.get(name) if name else None)
        portable_steps.append(portable)
        if step["state"] not in SHAREABLE or not step.get("key"):
            continue
        entry = db.cache_get(step["key"])
        if entry is None:
            continue  # nocache, or dropped since: nothing to share under this key
        origin = run
        origin_step = step
        if entry["run_id"] != run_id:  # reused here: share the record of the run that computed it
            origin = db.run(entry["run_id"], prefix=False) or run
            origin_step = next((s for s in db.step_runs(origin["id"]) if s["step"] == step["step"]), step)
        try:
            remote.publish(store, entry, origin, {**origin_step, "notebook": step["notebook"]}, transfer,
                           notebook_key=portable["output_notebook"] if origin is run else None)
        except CorruptObject as exc:
            transfer.warnings.append(f"step {step['step']} not pushed: its stored object {exc.where} is corrupt "
                                     "(run it again with --force)")
    record = {"format": 1, "run": exchange.portable_run(run), "steps": portable_steps,
              "artifacts": [{k: v for k, v in a.items() if k != "run_id"} for a in db.artifacts(run_id)],
              "metrics": [{k: v for k, v in m.items() if k != "run_id"} for m in db.metrics(run_id)],
              "cache": [s["key"] for s in steps if s["step"] in transfer.steps and s.get("key")]}
    remote.storage.put_bytes(remote.run_key(run_id), json.dumps(record, sort_keys=True, default=str).encode())
    return transfer


def pull_run(store: Store, root: Path, remote: RemoteCache, run_id: str | None) -> tuple[str, Transfer]:
    """Pull a pushed run (``run_id`` or a unique prefix; None: the newest pushed):
    its objects, cache entries, records and run folder. Returns its id."""
    record = remote.run_record(run_id)
    run = record["run"]
    transfer = Transfer()
    remote.fetch_objects(list(dict.fromkeys(a["hash"] for a in record.get("artifacts", []))), store, transfer)
    for key in record.get("cache", []):  # each with the record of the run that computed it
        data = remote.lookup(key)
        if data is not None:
            remote.adopt(store, root, data, transfer)
    prefix = remote.run_key(run["id"], "")
    for key in remote.storage.keys(f"runs/{run['id']}"):
        rel = key[len(prefix):]
        if rel == "run.json":
            continue
        content = remote.storage.read_bytes(key)
        if store.local:
            from cellpipe.engine.fileutil import atomic_write_bytes

            atomic_write_bytes(store.run_folder(run["id"]) / rel, content)
        else:
            store.storage.put_bytes(f"runs/{run['id']}/{rel}", content)
    steps = []
    for step in record.get("steps", []):
        where = step.get("output_notebook")
        if where:
            rel = where[len(prefix):]
            where = str(store.run_folder(run["id"]) / rel) if store.local else store.storage.where(
                f"runs/{run['id']}/{rel}")
        steps.append({**step, "output_notebook": where})
    exchange.import_run(store.db, run, str(root), remote.url, steps, record.get("artifacts", []),
                        record.get("metrics", []))
    return run["id"], transfer
