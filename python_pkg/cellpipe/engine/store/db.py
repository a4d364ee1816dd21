"""The SQLite metadata store: runs, step executions, parameters, metrics,
artifact hashes, the cache index and the file stat cache.

Every write is one transaction; SQLite's journal makes a killed process leave
either the whole record or none of it. ``PRAGMA user_version`` gates the
schema (see :class:`Database`).

Sweeps (schema 5) live in ``sweeps`` and ``sweep_trials``; their queries and a
description of the tables are in :mod:`cellpipe.engine.store.sweeps`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cellpipe.errors import CellpipeError
from cellpipe.model import RunState, StepState

#: the schema this cellpipe writes; ``PRAGMA user_version`` of the file
SCHEMA_VERSION = 7
#: the largest integer SQLite stores (64-bit signed)
SQLITE_MAX_INT = 2**63 - 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    root TEXT NOT NULL,
    notebooks TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    argv TEXT NOT NULL,
    git_commit TEXT,
    git_dirty INTEGER,
    env TEXT NOT NULL,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS step_runs (
    run_id TEXT NOT NULL REFERENCES runs(id),
    step TEXT NOT NULL,
    notebook TEXT NOT NULL,
    state TEXT NOT NULL,
    key TEXT,
    parts TEXT,
    started REAL,
    finished REAL,
    output_notebook TEXT,
    log TEXT,
    error TEXT,
    cached_from TEXT,
    warnings TEXT,
    checks TEXT,
    timings TEXT,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER,
    format TEXT,
    PRIMARY KEY (run_id, step, kind, name)
);
CREATE INDEX IF NOT EXISTS artifacts_hash ON artifacts(hash);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, step, name)
);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    step TEXT NOT NULL,
    notebook TEXT NOT NULL DEFAULT '',
    run_id TEXT NOT NULL,
    outputs TEXT NOT NULL,
    metrics TEXT NOT NULL,
    parts TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_step ON cache(step, notebook, created);
CREATE TABLE IF NOT EXISTS learned (
    notebook TEXT NOT NULL,
    step TEXT NOT NULL,
    var TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (notebook, step, var)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    notebooks TEXT NOT NULL,
    space TEXT NOT NULL,
    objectives TEXT NOT NULL,
    constraints TEXT NOT NULL,
    fixed TEXT NOT NULL,
    study TEXT,
    argv TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_trials (
    sweep_id TEXT NOT NULL REFERENCES sweeps(id),
    number INTEGER NOT NULL,
    run_id TEXT,
    params TEXT NOT NULL,
    objective_values TEXT,
    feasible INTEGER,
    state TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    PRIMARY KEY (sweep_id, number)
);
CREATE INDEX IF NOT EXISTS sweep_trials_run ON sweep_trials(run_id);
CREATE TABLE IF NOT EXISTS statcache (
    path TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""


class StoreTooNew(CellpipeError):
    """The store was written by a newer cellpipe whose schema this one does not know."""

    def __init__(self, path: Path, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"the store {path.parent} has schema version {found}, newer than this cellpipe knows "
            f"({known}); it was left untouched. Fix: upgrade cellpipe (pip install -U cellpipe), "
            "or use another store with --store DIR"
        )


class Database:
    """A thin layer over one SQLite file; JSON columns are decoded on read.

    ``PRAGMA user_version`` holds the schema version. Opening for writing
    creates or migrates the schema once, in one transaction, and refuses a
    store of a newer version (:class:`StoreTooNew`) instead of rewriting it.
    ``readonly`` opens the file without any write at all (no schema, no
    journal-mode change, no stat cache): what the panel's questions use.
    """

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        if readonly:
            uri = path.resolve().as_uri() + "?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None,
                                        check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout=30000")
        try:
            version = self.version()
            if version > SCHEMA_VERSION:
                raise StoreTooNew(path, version, SCHEMA_VERSION)
            if readonly and version == 0:
                # an empty file (a store created but never written to): no runs yet,
                # answered from an empty in-memory schema without writing the file
                self.conn.close()
                self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                self.conn.row_factory = sqlite3.Row
                for statement in SCHEMA.strip().split(";\n"):
                    if statement.strip():
                        self.conn.execute(statement)
            if not readonly:
                self.conn.execute("PRAGMA synchronous=NORMAL")
                if version < SCHEMA_VERSION:
                    self._upgrade()
        except BaseException:
            self.conn.close()
            raise

    def version(self) -> int:
        """The schema version of the file: ``user_version``, else the one an
        earlier cellpipe wrote into ``meta`` (0 for a new, empty file)."""
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version:
            return version
        has_meta = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if has_meta:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            return int(row[0]) if row else 1
        has_tables = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table'").fetchone()
        return 1 if has_tables else 0  # schema 1 kept no version at all

    def _upgrade(self) -> None:
        """Create the schema, or bring an earlier one up to this version (additive only)."""
        self.conn.execute("PRAGMA journal_mode=WAL")  # persistent in the file: set once
        with self.transaction():
            version = self.version()  # again, under the lock: another process may have done it
            if version > SCHEMA_VERSION:
                raise StoreTooNew(self.path, version, SCHEMA_VERSION)
            if version == SCHEMA_VERSION:
                return
            for statement in SCHEMA.strip().split(";\n"):
                if statement.strip():
                    self.conn.execute(statement)
            if 0 < version < 2:  # schema 1: cache entries were not scoped by notebook
                columns = {row[1] for row in self.conn.execute("PRAGMA table_info(cache)")}
                if "notebook" not in columns:
                    self.conn.execute("ALTER TABLE cache ADD COLUMN notebook TEXT NOT NULL DEFAULT ''")
                self.conn.execute("DROP INDEX IF EXISTS cache_step")
                self.conn.execute("CREATE INDEX cache_step ON cache(step, notebook, created)")
            if 0 < version < 6:  # schema 6: each step's check results
                columns = {row[1] for row in self.conn.execute("PRAGMA table_info(step_runs)")}
                if "checks" not in columns:
                    self.conn.execute("ALTER TABLE step_runs ADD COLUMN checks TEXT")
            if 0 < version < 7:  # schema 7: each step's timing breakdown (cellpipe.engine.timings)
                columns = {row[1] for row in self.conn.execute("PRAGMA table_info(step_runs)")}
                if "timings" not in columns:
                    self.conn.execute("ALTER TABLE step_runs ADD COLUMN timings TEXT")
            # schema 5: the `sweeps` and `sweep_trials` tables (created above)
            # schema 4: the `learned` table (created above)
            # schema 3: keys are BLAKE2b-256 (core.digest); older entries stay and simply never match
            self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.conn.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- runs ------------------------------------------------------------------
    def create_run(self, run: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO runs(id, pipeline, root, notebooks, started, state, params, argv, git_commit,"
                " git_dirty, env, pid) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run["id"], run["pipeline"], run["root"], json.dumps(run["notebooks"]), run["started"],
                    run["state"], json.dumps(run["params"], sort_keys=True), json.dumps(run["argv"]),
                    run.get("git_commit"), run.get("git_dirty"), json.dumps(run["env"], sort_keys=True),
                    run.get("pid"),
                ),
            )

    def finish_run(self, run_id: str, state: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE runs SET state=?, finished=? WHERE id=?", (state, time.time(), run_id))

    def mark_abandoned_runs(self, alive: Callable[[int | None], bool]) -> list[str]:
        """Runs left 'running' by a process that no longer exists become 'interrupted'."""
        rows = self.conn.execute("SELECT id, pid FROM runs WHERE state=?", (RunState.RUNNING.value,)).fetchall()
        dead = [r["id"] for r in rows if not alive(r["pid"])]
        if dead:
            with self.transaction() as c:
                for run_id in dead:
                    c.execute("UPDATE runs SET state=? WHERE id=?", (RunState.INTERRUPTED.value, run_id))
                    c.execute(
                        "UPDATE step_runs SET state=? WHERE run_id=? AND state IN (?, ?)",
                        (StepState.INTERRUPTED.value, run_id, StepState.RUNNING.value, StepState.PENDING.value),
                    )
        return dead

    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs ORDER BY started DESC"
        if limit:  # SQLite counts in 64 bits: a larger limit is no limit
            sql += f" LIMIT {min(int(limit), SQLITE_MAX_INT)}"
        return [self._run_row(r) for r in self.conn.execute(sql).fetchall()]

    def run(self, run_id: str, prefix: bool = True) -> dict[str, Any] | None:
        """The run with this id, or the only run whose id starts with it."""
        row = self.conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None and prefix:
            rows = self.conn.execute(
                "SELECT * FROM runs WHERE id LIKE ? ORDER BY started DESC", (run_id + "%",)
            ).fetchall()
            row = rows[0] if len(rows) == 1 else None
        return self._run_row(row) if row is not None else None

    @staticmethod
    def _run_row(row: sqlite3.Row) -> dict[str, Any]:
        data = dict(row)
        for key in ("notebooks", "params", "argv", "env"):
            data[key] = json.loads(data[key]) if data.get(key) else None
        return data

    # -- steps -----------------------------------------------------------------
    def record_step(self, run_id: str, step: dict[str, Any]) -> None:
        with self.transaction() as c:
            self._write_step(c, run_id, step)

    @staticmethod
    def _write_step(c: sqlite3.Connection, run_id: str, step: dict[str, Any]) -> None:
        c.execute(
            "INSERT OR REPLACE INTO step_runs(run_id, step, notebook, state, key, parts, started, finished,"
            " output_notebook, log, error, cached_from, warnings, checks, timings)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id, step["step"], step["notebook"], step["state"], step.get("key"),
                json.dumps(step.get("parts"), sort_keys=True) if step.get("parts") is not None else None,
                step.get("started"), step.get("finished"), step.get("output_notebook"), step.get("log"),
                json.dumps(step["error"]) if step.get("error") else None, step.get("cached_from"),
                json.dumps(step.get("warnings") or []),
                json.dumps(step["checks"]) if step.get("checks") else None,
                json.dumps(step["timings"]) if step.get("timings") else None,
            ),
        )

    def record_success(self, run_id: str, step: dict[str, Any], outputs: dict[str, Any],
                       metrics: dict[str, Any], cache_it: bool) -> None:
        """The step's execution, its artifacts and metrics, and its cache entry: one transaction."""
        with self.transaction() as c:
            self._write_step(c, run_id, step)
            for name, art in outputs.get("variables", {}).items():
                c.execute(
                    "INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?,?)",
                    (run_id, step["step"], "variable", name, art["hash"], art.get("bytes"), art.get("format")),
                )
            for path, art in outputs.get("files", {}).items():
                c.execute(
                    "INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?,?)",
                    (run_id, step["step"], "file", path, art["hash"], art.get("bytes"), art.get("format")),
                )
            for name, value in metrics.items():
                c.execute(
                    "INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)",
                    (run_id, step["step"], name, json.dumps(value)),
                )
            if cache_it and step.get("key"):
                c.execute(
                    "INSERT OR REPLACE INTO cache(key, step, notebook, run_id, outputs, metrics, parts, created)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (step["key"], step["step"], step["notebook"], run_id, json.dumps(outputs, sort_keys=True),
                     json.dumps(metrics, sort_keys=True), json.dumps(step.get("parts"), sort_keys=True),
                     time.time()),
                )

    def step_runs(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM step_runs WHERE run_id=? ORDER BY COALESCE(started, 1e18), step", (run_id,)
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["parts"] = json.loads(d["parts"]) if d["parts"] else None
            d["error"] = json.loads(d["error"]) if d["error"] else None
            d["warnings"] = json.loads(d["warnings"]) if d["warnings"] else []
            d["checks"] = json.loads(d["checks"]) if d.get("checks") else []
            d["timings"] = json.loads(d["timings"]) if d.get("timings") else None  # none before schema 7
            out.append(d)
        return out

    def output_notebook(self, run_id: str, step: str) -> str | None:
        """The output notebook of ``step`` where run ``run_id`` executed it (not reused it)."""
        row = self.conn.execute(
            "SELECT output_notebook FROM step_runs WHERE run_id=? AND step=? AND cached_from IS NULL"
            " AND output_notebook IS NOT NULL", (run_id, step)).fetchone()
        return row[0] if row else None

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            "SELECT * FROM artifacts WHERE run_id=? ORDER BY step, kind, name", (run_id,)).fetchall()]

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return [
            {**dict(r), "value": json.loads(r["value"])}
            for r in self.conn.execute(
                "SELECT * FROM metrics WHERE run_id=? ORDER BY step, name", (run_id,)).fetchall()
        ]

    def artifact_producers(self, digest: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            "SELECT a.*, r.started FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE a.hash=?"
            " ORDER BY r.started", (digest,)).fetchall()]

    def file_history(self, path: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            "SELECT a.*, r.started FROM artifacts a JOIN runs r ON r.id = a.run_id"
            " WHERE a.kind='file' AND a.name=? ORDER BY r.started DESC", (path,)).fetchall()]

    # -- cache -----------------------------------------------------------------
    def cache_get(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM cache WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return {
            "key": row["key"], "step": row["step"], "run_id": row["run_id"],
            "outputs": json.loads(row["outputs"]), "metrics": json.loads(row["metrics"]),
            "parts": json.loads(row["parts"]),
        }

    def cache_latest(self, step: str, notebook: str) -> dict[str, Any] | None:
        """The newest successful execution of this step of this notebook (the
        store may hold several pipelines with steps of the same name)."""
        row = self.conn.execute(
            "SELECT key FROM cache WHERE step=? AND notebook=? ORDER BY created DESC LIMIT 1", (step, notebook)
        ).fetchone()
        return self.cache_get(row["key"]) if row else None

    def cache_entries(self, step: str, notebook: str, limit: int = 50) -> list[dict[str, Any]]:
        """This step's cache entries, newest first: their keys and parts."""
        rows = self.conn.execute(
            "SELECT key, parts FROM cache WHERE step=? AND notebook=? ORDER BY created DESC LIMIT ?",
            (step, notebook, limit),
        ).fetchall()
        return [{"key": r["key"], "parts": json.loads(r["parts"])} for r in rows]

    def cache_drop(self, key: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM cache WHERE key=?", (key,))

    # -- what runs learned -----------------------------------------------------------
    def learn(self, notebook: str, step: str, var: str, run_id: str) -> None:
        """Remember that ``step`` changes its input ``var`` in place (seen in ``run_id``)."""
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO learned VALUES (?,?,?,?,?)", (notebook, step, var, run_id, time.time()))

    def learned(self) -> dict[str, dict[str, dict[str, str]]]:
        """notebook -> step -> variable it changes in place -> the run that saw it."""
        try:
            rows = self.conn.execute("SELECT notebook, step, var, run_id FROM learned ORDER BY created").fetchall()
        except sqlite3.OperationalError:  # a store older than schema 4, opened read-only
            return {}
        out: dict[str, dict[str, dict[str, str]]] = {}
        for row in rows:
            out.setdefault(row["notebook"], {}).setdefault(row["step"], {})[row["var"]] = row["run_id"]
        return out

    # -- stat cache --------------------------------------------------------------
    def stat_get(self, path: str) -> tuple[int, int, int, str] | None:
        row = self.conn.execute(
            "SELECT inode, mtime_ns, size, hash FROM statcache WHERE path=?", (path,)
        ).fetchone()
        return (row[0], row[1], row[2], row[3]) if row else None

    def stat_put(self, path: str, inode: int, mtime_ns: int, size: int, digest: str) -> None:
        if self.readonly:  # a reader never writes, not even the stat cache
            return
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO statcache VALUES (?,?,?,?,?)", (path, inode, mtime_ns, size, digest))
