"""The store's building blocks: objects, the stat cache, the metadata schema."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from cellpipe.cli import main
from cellpipe.engine.fileutil import hash_file
from cellpipe.engine.store import Store, StoreBusy, StoreTooNew
from cellpipe.engine.store.db import SCHEMA_VERSION, Database
from cellpipe.engine.store.objects import ObjectStore


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


def _files(folder: Path) -> dict[str, bytes]:
    """The bytes of each file in ``folder`` (SQLite may keep an empty -wal and a -shm
    beside the database while it is open: they hold no data)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _store_with_a_run(folder: Path) -> None:
    store = Store(folder)
    try:
        store.db.create_run({"id": "r1", "pipeline": "p", "root": "/", "notebooks": [], "started": 1.0,
                             "state": "succeeded", "params": {}, "argv": [], "env": {}})
    finally:
        store.close()


def test_the_schema_version_is_the_files_user_version(tmp_path: Path) -> None:
    _store_with_a_run(tmp_path / "s")
    conn = sqlite3.connect(tmp_path / "s" / "cellpipe.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_store_of_schema_2_gets_its_user_version_and_keeps_its_records(tmp_path: Path) -> None:
    # Given a store as cellpipe with schema 2 left it: the version only in its meta table
    _store_with_a_run(tmp_path / "s")
    conn = sqlite3.connect(tmp_path / "s" / "cellpipe.db")
    conn.execute("PRAGMA user_version = 0")
    conn.execute("UPDATE meta SET value='2' WHERE key='schema'")
    conn.commit()
    conn.close()
    # When this cellpipe opens it to write
    store = Store(tmp_path / "s")
    try:
        # Then it is at this schema and its runs are all there
        assert store.db.version() == SCHEMA_VERSION
        assert [r["id"] for r in store.db.runs()] == ["r1"]
    finally:
        store.close()


def test_a_store_of_schema_5_gains_the_step_checks_column(tmp_path: Path) -> None:
    # Given a store as schema 5 left it: step records without their checks
    _store_with_a_run(tmp_path / "s")
    conn = sqlite3.connect(tmp_path / "s" / "cellpipe.db")
    conn.execute("ALTER TABLE step_runs DROP COLUMN checks")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    # When this cellpipe opens it to write, then a step's checks are recorded and read back
    store = Store(tmp_path / "s")
    try:
        assert store.db.version() == SCHEMA_VERSION
        checks = [{"name": "rows", "passed": True, "message": "rows: 3 rows"}]
        store.db.record_step("r1", {"step": "load", "notebook": "a.ipynb", "state": "done", "checks": checks})
        assert store.db.step_runs("r1")[0]["checks"] == checks
    finally:
        store.close()


def test_a_store_of_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path, capsys) -> None:
    # Given a store written by a newer cellpipe
    _store_with_a_run(tmp_path / "s")
    conn = sqlite3.connect(tmp_path / "s" / "cellpipe.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = _files(tmp_path / "s")
    # When this cellpipe opens it, to write or to read
    for readonly in (False, True):
        with pytest.raises(StoreTooNew, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade cellpipe"):
            Store(tmp_path / "s", readonly=readonly)
    # Then the CLI says so with exit code 2, and not a byte of the store changed
    assert main(["runs", "--store", str(tmp_path / "s")]) == 2
    assert "newer than this cellpipe knows" in capsys.readouterr().err
    after = _files(tmp_path / "s")
    assert after["cellpipe.db"] == before["cellpipe.db"] and not after.get("cellpipe.db-wal")


def test_opening_a_store_to_read_never_writes(tmp_path: Path) -> None:
    # Given a store with a run, and a work-tree file the stat cache has not seen
    _store_with_a_run(tmp_path / "s")
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    before = _files(tmp_path / "s")
    # When it is opened read-only and asked questions, a file hash included
    store = Store(tmp_path / "s", readonly=True)
    try:
        assert [r["id"] for r in store.db.runs()] == ["r1"]
        assert store.file_hash(data) == hash_file(data)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.finish_run("r1", "failed")
    finally:
        store.close()
    # Then the database file is byte for byte the same and nothing was journaled
    after = _files(tmp_path / "s")
    assert after["cellpipe.db"] == before["cellpipe.db"]
    assert not after.get("cellpipe.db-wal")
    with_writer = Store(tmp_path / "s")
    try:
        assert with_writer.db.stat_get(str(data.resolve())) is None
    finally:
        with_writer.close()


@pytest.mark.kernel
def test_the_panels_questions_never_write_to_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cellpipe.server.notebooks import analyze, step_status
    from conftest import write_notebook

    # Given a notebook that has run once, and its input file touched since (same bytes)
    (tmp_path / "data.txt").write_text("3")
    write_notebook(tmp_path / "flow.ipynb", [("n = 1", ("parameters",)),
                                             ("x = n + int(open('data.txt').read())", ("step:a", "in:data.txt"))])
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CELLPIPE_STORE", raising=False)
    assert main(["run", "flow.ipynb", "-q"]) == 0
    os.utime(tmp_path / "data.txt", ns=(1, 1))
    before = _files(tmp_path / ".cellpipe")
    # When the panel analyzes it and asks for its status, again and again
    for _ in range(3):
        assert analyze(tmp_path, "flow.ipynb")["steps"]["a"]["state"] == "done"
        assert step_status(tmp_path, "flow.ipynb")["steps"][0]["up_to_date"]
    # Then the store's database is exactly as the run left it
    assert _files(tmp_path / ".cellpipe")["cellpipe.db"] == before["cellpipe.db"]
    assert not _files(tmp_path / ".cellpipe").get("cellpipe.db-wal")
