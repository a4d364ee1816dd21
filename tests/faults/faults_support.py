"""What every fault test checks afterwards."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from cellpipe.engine.executors.procs import leftovers
from cellpipe.engine.fileutil import hash_file

#: one line per kill trial, printed in the session summary (conftest.py)
FIGURES: list[dict] = []


def record_figures(figures: dict) -> None:
    """Add one trial's figures to the session's file (see conftest.py)."""
    import os

    FIGURES.append(figures)
    path = os.environ.get("CELLPIPE_FAULT_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(figures) + "\n")


def write_notebook(path: Path, cells: list[tuple[str, tuple[str, ...]]]) -> Path:
    """A notebook of (source, tags) code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for n, (source, tags) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source)
        cell.id = f"cell-{n}"
        cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def cellpipe(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def store_problems(store: Path) -> list[str]:
    """What is wrong with a store: SQLite's integrity check, every object's hash,
    temporary files under real names, cache entries without their objects."""
    problems = []
    db = sqlite3.connect(store / "cellpipe.db", timeout=30)
    try:
        check = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
        if check != ["ok"]:
            problems += check
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        # killed while the first run was creating the store: no table yet, which the next run creates
        outputs = ([json.loads(r[0]) for r in db.execute("SELECT outputs FROM cache").fetchall()]
                   if "cache" in tables else [])
    finally:
        db.close()
    objects = store / "objects"
    for path in objects.rglob("*") if objects.exists() else []:
        if path.is_dir():
            continue
        if path.name.startswith("."):
            continue  # a killed write's temporary file: never under an object's name
        digest = path.parent.name + path.name
        if hash_file(path) != digest:
            problems.append(f"object {path} does not hash to its name")
    for out in outputs:
        digests = [a["hash"] for a in out.get("variables", {}).values()]
        for art in out.get("files", {}).values():
            digests += list(art.get("files", {}).values()) if art.get("kind") == "tree" else [art["hash"]]
        for d in digests:
            if not (objects / d[:2] / d[2:]).exists():
                problems.append(f"cache entry names missing object {d}")
    return problems


def wait_gone(store: Path, seconds: float = 5.0) -> list:
    """The run's processes still there ``seconds`` after now."""
    deadline = time.monotonic() + seconds
    left = leftovers(store)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = leftovers(store)
    return left
