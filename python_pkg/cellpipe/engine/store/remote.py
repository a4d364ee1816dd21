"""The shared cache: step results computed on other machines, kept in any fsspec
location (``--cache-from URL`` / ``[tool.cellpipe] remote``).

Layout below the URL (a :class:`~cellpipe.engine.store.backend.Storage`)::

    objects/ab/cdef…       content-addressed objects, as in a store
    cache/ab/<key>.json    one entry per step key: its outputs, metrics and key parts,
                           and the portable records of the run and step that computed it
    cache/ab/<base>.reads.json   for a step that read files without declaring them: the
                           sets of such files its entries cover, under its static key
    runs/<run>/run.json    a pushed run: its portable records (see :mod:`.exchange`)
    runs/<run>/…           its run folder (executed notebooks, logs)

An entry is written after every object it names, each write atomic, so a reader
that finds an entry finds whole objects; every object fetched is checked against
its hash, and a corrupt one is named, dropped, and never used. Nothing in an
entry depends on the machine, the user or the folder that computed it: the key
is the same wherever the same code, parameters and inputs run.
"""

from __future__ import annotations

import json
import posixpath
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.engine.store import Store, exchange
from cellpipe.engine.store.backend import Storage, open_storage, redact
from cellpipe.engine.store.objects import CorruptObject, ObjectStore
from cellpipe.errors import UsageError

#: the format of entries and run records this cellpipe writes
FORMAT = 1
#: the environment variable naming the shared cache
REMOTE_ENV = "CELLPIPE_REMOTE"


def output_digests(outputs: dict[str, Any]) -> list[str]:
    """Every object a step's recorded outputs need (a folder: its listing and its files)."""
    found = [art["hash"] for art in outputs.get("variables", {}).values()]
    for art in outputs.get("files", {}).values():
        if art.get("kind") == "tree":
            found.append(art["hash"])
            found += list(art.get("files", {}).values())
        else:
            found.append(art["hash"])
    return list(dict.fromkeys(found))


@dataclass
class Transfer:
    """What a push or a pull moved."""

    steps: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    skipped: int = 0  # objects already there
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "objects": self.objects, "bytes": self.bytes, "skipped": self.skipped,
                "warnings": self.warnings}


class RemoteCache:
    """Cache entries, objects and pushed runs in a storage every machine reaches."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.objects = ObjectStore(storage)
        #: where it is, for people (credentials redacted)
        self.url = storage.url

    @classmethod
    def open(cls, url: str) -> RemoteCache:
        """The shared cache at ``url`` (a folder or an fsspec URL); a usage error when it does not answer."""
        return cls(open_storage(url, check=True))

    # -- cache entries -------------------------------------------------------------
    @staticmethod
    def entry_key(key: str) -> str:
        return posixpath.join("cache", key[:2], f"{key}.json")

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The entry under a step key, or None (an unreadable entry is treated as none)."""
        try:
            data = json.loads(self.storage.read_bytes(self.entry_key(key)))
        except FileNotFoundError:
            return None
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("outputs"), dict):
            return None
        return data

    @staticmethod
    def reads_key(base: str) -> str:
        return posixpath.join("cache", base[:2], f"{base}.reads.json")

    def read_sets(self, base: str) -> list[list[str]]:
        """The sets of files (read at run time, undeclared) that entries of a step with
        the static key ``base`` were cached with, newest first."""
        try:
            data = json.loads(self.storage.read_bytes(self.reads_key(base)))
        except (FileNotFoundError, ValueError):
            return []
        sets = data.get("sets") if isinstance(data, dict) else None
        return [list(names) for names in sets or [] if isinstance(names, list)]

    def _note_read_set(self, parts: dict[str, Any]) -> None:
        """Index an entry whose key covers files read at run time under its static key,
        so another machine (whose store has never seen them) can find it."""
        base, names = (parts.get("where") or {}).get("base"), sorted(parts.get("read") or {})
        if not base or not names:
            return
        sets = self.read_sets(base)
        if names in sets:
            return
        data = {"base": base, "sets": [names, *sets][:50]}
        self.storage.put_bytes(self.reads_key(base), json.dumps(data, sort_keys=True).encode())

    def fetch_objects(self, digests: list[str], store: Store, transfer: Transfer) -> None:
        """Copy the objects ``store`` lacks from here, each checked against its hash.

        A corrupt object here raises :class:`CorruptObject` naming it; it is removed
        first (it is garbage under a content address), so a later push replaces it.
        """
        missing = [d for d in digests if not store.objects.has(d)]
        transfer.skipped += len(digests) - len(missing)
        if not missing:
            return
        scratch = store.folder / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            for digest in missing:
                local = Path(tmp) / digest
                try:
                    self.objects.materialize(digest, local, link=False)
                except CorruptObject:
                    self.objects.remove(digest)
                    raise
                store.objects.put_file(local, digest, link=True)
                transfer.objects += 1
                transfer.bytes += local.stat().st_size

    def send_objects(self, digests: list[str], store: Store, transfer: Transfer) -> None:
        """Copy the objects this location lacks from ``store``; a corrupt local object is never sent."""
        for digest in digests:
            if self.objects.has(digest):
                transfer.skipped += 1
                continue
            local = store.objects.storage.local_path(store.objects.key(digest))
            if local is not None:
                if not store.objects.verify(digest):
                    raise CorruptObject(digest, store.objects.where(digest))
                self.storage.put_file(self.objects.key(digest), local, readonly=True)
                transfer.bytes += local.stat().st_size
            else:
                data = store.objects.read_bytes(digest)  # checked against its hash
                self.storage.put_bytes(self.objects.key(digest), data, readonly=True)
                transfer.bytes += len(data)
            transfer.objects += 1

    def publish(self, store: Store, entry: dict[str, Any], run: dict[str, Any], step: dict[str, Any],
                transfer: Transfer, notebook_key: str | None = None) -> None:
        """Push one cache entry: its objects first, then the entry (with the portable
        records of the run and step that computed it)."""
        self.send_objects(output_digests(entry["outputs"]), store, transfer)
        data = {
            "format": FORMAT, "key": entry["key"], "step": entry["step"], "notebook": step["notebook"],
            "run_id": entry["run_id"], "outputs": entry["outputs"], "metrics": entry["metrics"],
            "parts": entry["parts"], "created": time.time(),
            "run": exchange.portable_run(run), "step_run": exchange.portable_step(step, notebook_key),
        }
        self.storage.put_bytes(self.entry_key(entry["key"]),
                               json.dumps(data, sort_keys=True, default=str).encode())
        self._note_read_set(entry["parts"])
        transfer.steps.append(step["step"])

    def adopt(self, store: Store, root: Path, data: dict[str, Any], transfer: Transfer) -> dict[str, Any]:
        """Make an entry found here a local one: fetch its objects, record the run
        and step that computed it (so ``show`` and ``trace`` name them) and the
        cache entry; return the local entry."""
        self.fetch_objects(output_digests(data["outputs"]), store, transfer)
        run = data.get("run") or {"id": data["run_id"]}
        step = {**(data.get("step_run") or {}), "step": data["step"], "notebook": data["notebook"],
                "key": data["key"], "parts": data["parts"], "state": "done"}
        if step.get("output_notebook"):
            step["output_notebook"] = self.storage.where(step["output_notebook"])
        metrics = [{"step": data["step"], "name": k, "value": v} for k, v in data["metrics"].items()]
        exchange.import_run(store.db, run, str(root), self.url, [step],
                            exchange.step_artifacts(data["step"], data["outputs"]), metrics)
        entry = {"key": data["key"], "step": data["step"], "notebook": data["notebook"],
                 "run_id": run["id"], "outputs": data["outputs"], "metrics": data["metrics"],
                 "parts": data["parts"]}
        exchange.put_cache_entry(store.db, entry)
        transfer.steps.append(data["step"])
        return entry

    # -- runs ----------------------------------------------------------------------
    @staticmethod
    def run_key(run_id: str, name: str = "run.json") -> str:
        return posixpath.join("runs", run_id, name)

    def runs(self) -> Iterator[dict[str, Any]]:
        """The pushed runs' records, in no particular order."""
        for key in self.storage.keys("runs"):
            if key.endswith("/run.json") and key.count("/") == 2:
                try:
                    yield json.loads(self.storage.read_bytes(key))
                except (FileNotFoundError, ValueError):
                    continue

    def run_record(self, run_id: str | None) -> dict[str, Any]:
        """A pushed run's record: ``run_id`` (or a unique prefix), else the newest pushed run."""
        if run_id:
            try:
                return json.loads(self.storage.read_bytes(self.run_key(run_id)))
            except FileNotFoundError:
                pass
            except ValueError as exc:
                raise UsageError(f"the record of run {run_id} at {self.url} is unreadable ({exc})") from exc
        records = sorted(self.runs(), key=lambda r: r["run"].get("started") or 0, reverse=True)
        if run_id:
            records = [r for r in records if r["run"]["id"].startswith(run_id)]
            if len(records) != 1:
                raise UsageError(f"no run {run_id!r} at {self.url}"
                                 + ("" if not records else f" (it matches {len(records)} runs)")
                                 + ". Fix: `cellpipe push RUN` it from the machine that ran it")
        if not records:
            raise UsageError(f"no run has been pushed to {self.url}. Fix: `cellpipe push` one first")
        return records[0]


def remote_location(root: Path, chosen: str | None = None) -> str | None:
    """The shared cache's URL: ``chosen`` (``--cache-from``), else ``$CELLPIPE_REMOTE``,
    else ``[tool.cellpipe] remote``; None when none is set."""
    import os

    from cellpipe.engine.settings import setting
    from cellpipe.engine.store.backend import is_url

    found = chosen or os.environ.get(REMOTE_ENV) or None
    if found is None:
        found = setting(root, "remote")
        if found is not None and not is_url(found):  # a folder in pyproject.toml: relative to the root
            found = str(root / Path(found).expanduser())
    return found


def shown(url: str) -> str:
    """A location fit to print (credentials redacted)."""
    return redact(url)
