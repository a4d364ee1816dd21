"""The store's building blocks: objects, the stat cache, the metadata schema."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from cellpipe.engine.store import Store, StoreBusy
from cellpipe.engine.store.db import Database
from cellpipe.engine.store.objects import ObjectStore, hash_file


def test_objects_are_named_by_content_read_only_and_verified(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "objects")
    src = tmp_path / "a.txt"
    src.write_text("hello")
    digest = objects.put_file(src)
    assert digest == hash_file(src)
    assert objects.path(digest).read_text() == "hello"
    assert stat.S_IMODE(objects.path(digest).stat().st_mode) == 0o444  # read-only, even for root's tools
    assert objects.verify(digest)
    # a second copy of the same bytes is the same object
    other = tmp_path / "b.txt"
    other.write_text("hello")
    assert objects.put_file(other) == digest
    # corruption is detected
    os.chmod(objects.path(digest), 0o644)
    objects.path(digest).write_text("hellO")
    assert not objects.verify(digest)


def test_materialize_copies_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    objects = ObjectStore(tmp_path / "objects")
    digest = objects.put_bytes(b"data")
    dest = tmp_path / "work" / "out.bin"
    objects.materialize(digest, dest, link=False)
    assert dest.read_bytes() == b"data"
    dest.write_bytes(b"changed by the user")  # a copy: the object is untouched
    assert objects.verify(digest)
    assert [p.name for p in dest.parent.iterdir()] == ["out.bin"]


def test_the_stat_cache_hashes_a_file_again_only_when_it_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    try:
        f = tmp_path / "big.bin"
        f.write_bytes(b"x" * 1000)
        first = store.file_hash(f)
        assert store.db.stat_get(str(f.resolve()))[3] == first
        f.write_bytes(b"y" * 1001)
        assert store.file_hash(f) != first
    finally:
        store.close()


def test_a_store_made_by_schema_1_is_upgraded_in_place(tmp_path: Path) -> None:
    # Given a database whose cache table predates the notebook column
    path = tmp_path / "cellpipe.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE cache (key TEXT PRIMARY KEY, step TEXT NOT NULL, run_id TEXT NOT NULL,"
                 " outputs TEXT NOT NULL, metrics TEXT NOT NULL, parts TEXT NOT NULL, created REAL NOT NULL)")
    conn.execute("CREATE INDEX cache_step ON cache(step, created)")
    conn.execute("INSERT INTO cache VALUES ('k', 'load', 'r1', '{}', '{}', '{}', 1.0)")
    conn.commit()
    conn.close()
    # When cellpipe opens it, the old entry survives and lookups by notebook work
    db = Database(path)
    try:
        assert db.cache_get("k")["step"] == "load"
        assert db.cache_latest("load", "nb.ipynb") is None
    finally:
        db.close()


def test_the_lock_refuses_a_second_holder_with_the_run_that_holds_it(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "s"), Store(tmp_path / "s")
    try:
        first.lock("run-1")
        with pytest.raises(StoreBusy, match=r"in use by run run-1 \(pid \d+\)"):
            second.lock("run-2")
        first.unlock()
        second.lock("run-2")
    finally:
        first.close()
        second.close()
