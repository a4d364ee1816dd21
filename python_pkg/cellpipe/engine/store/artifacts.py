"""Moving a step's outputs between the run folder, the work tree and the object
store. Objects are only ever added; work-tree files are written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cellpipe.core.digest import tree_bytes
from cellpipe.core.paths import overlaps
from cellpipe.engine.fileutil import folder_listing
from cellpipe.engine.store import Store
from cellpipe.engine.store.objects import CorruptObject
from cellpipe.model import Step
from cellpipe.runtime import RECORD

__all__ = ["CorruptObject", "present", "restore_files", "link_outputs", "ingest"]


def _digests(art: dict[str, Any]) -> list[str]:
    if art.get("kind") == "tree":
        return list(art.get("files", {}).values())
    return [art["hash"]]


def present(store: Store, outputs: dict[str, Any]) -> bool:
    """Every object of a step's recorded outputs exists (variables: with their size)."""
    objects = store.objects
    for art in outputs.get("variables", {}).values():
        if not objects.has(art["hash"], art.get("bytes")):
            return False
    return all(objects.has(d) for art in outputs.get("files", {}).values() for d in _digests(art))


def restore_files(store: Store, root: Path, outputs: dict[str, Any]) -> list[str]:
    """Put ``out:`` files back where they are missing or changed.

    A changed file is first kept in the object store, so nothing the user wrote
    is lost; the returned notes say where each kept copy is.
    """
    notes: list[str] = []
    for rel, art in outputs.get("files", {}).items():
        target = root / rel
        if art.get("kind") == "tree":
            for sub, digest in art["files"].items():
                notes += _restore(store, target / sub, digest, f"{rel.rstrip('/')}/{sub}")
        else:
            notes += _restore(store, target, art["hash"], rel)
    return notes


def _restore(store: Store, target: Path, digest: str, rel: str) -> list[str]:
    current = store.file_hash(target) if target.is_file() else None
    if current == digest:
        return []
    if not store.objects.verify(digest):
        raise CorruptObject(digest, store.objects.where(digest))
    notes = []
    if current is not None:
        kept = store.objects.put_file(target, current)
        notes.append(f"{rel} had changed since the step wrote it; it was restored, and the changed "
                     f"copy is kept at {store.objects.where(kept)}")
    store.objects.materialize(digest, target, link=False, verified=True)
    return notes


def link_outputs(store: Store, folder: Path, producer: str, produced: dict[str, Any]) -> bool:
    """Lay out a producer's stored variables in ``folder`` as the runtime reads
    them; False when one of its objects is corrupt or gone."""
    record: dict[str, Any] = {"step": producer, "variables": {}}
    for name, art in produced["variables"].items():
        try:
            store.objects.materialize(art["hash"], folder / art["file"])
        except CorruptObject:
            return False
        record["variables"][name] = {k: art[k] for k in ("file", "format", "type", "bytes", "layout", "index_freq")
                                    if k in art}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).write_text(json.dumps(record, sort_keys=True))
    return True


def ingest(store: Store, root: Path, step: Step, folder: Path) -> dict[str, Any]:
    """Move a finished step's outputs (its variables in ``folder``, its ``out:``
    files and the files it wrote without declaring them) into the object store;
    return what it produced, and ``read``: the files it read without declaring them."""
    record = json.loads((folder / RECORD).read_text())
    variables: dict[str, Any] = {}
    for name, art in record.get("variables", {}).items():
        digest = store.objects.put_file(folder / art["file"], link=True)
        variables[name] = {**art, "hash": digest}
    files: dict[str, Any] = {}
    for rel in step.file_outputs:
        art = _put_path(store, root / rel)
        if art is not None:
            files[rel] = art
    opened = record.get("files_opened") or {}
    declared = (*step.file_inputs, *step.file_outputs)
    for rel in opened.get("written", []):
        if rel.startswith("/") or _covered(rel, declared):
            continue  # only files under the root are restored on a cache hit
        art = _put_path(store, root / rel)
        if art is not None:
            files[rel] = {**art, "undeclared": True}
    read = [rel for rel in opened.get("read", []) if not _covered(rel, declared) and rel not in files]
    return {"variables": variables, "files": files, "metrics": record.get("metrics", {}),
            "changed_inputs": record.get("changed_inputs", []), "read": read, "checks": record.get("checks", [])}


def _covered(rel: str, declared: tuple[str, ...]) -> bool:
    return any(overlaps(rel, d) and rel.startswith(d.rstrip("/")) for d in declared)


def _put_path(store: Store, path: Path) -> dict[str, Any] | None:
    """Store a file, or a folder as a tree of files; None when it is gone."""
    if path.is_dir():
        listing = folder_listing(path, lambda p: store.objects.put_file(p, store.file_hash(p)))
        return {"kind": "tree", "hash": store.objects.put_bytes(tree_bytes(listing)), "files": listing,
                "bytes": sum(store.objects.size(d) or 0 for d in listing.values())}
    if path.is_file():
        digest = store.objects.put_file(path, store.file_hash(path))
        return {"kind": "file", "hash": digest, "bytes": path.stat().st_size}
    return None
