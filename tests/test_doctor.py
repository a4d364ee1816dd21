"""`cellpipe doctor` checks a store and repairs what is safe to repair."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import write_notebook

pytestmark = pytest.mark.kernel


def cellpipe(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("doctor")
    write_notebook(project / "flow.ipynb", [
        ("import numpy as np", ("imports",)),
        ("a = np.arange(100)", ("step:make",)),
        ("total = int(a.sum())\nopen('total.txt', 'w').write(str(total))", ("step:use", "out:total.txt")),
    ])
    done = cellpipe("run", "flow.ipynb", cwd=project)
    assert done.returncode == 0, done.stderr
    return project


@pytest.fixture
def project(ran: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "p"
    shutil.copytree(ran, copy, symlinks=True)
    return copy


def checks(done: subprocess.CompletedProcess) -> dict[str, str]:
    return {c["check"]: c["state"] for c in json.loads(done.stdout)["checks"]}


def test_a_healthy_store_passes_every_check(project: Path) -> None:
    done = cellpipe("doctor", "--json", cwd=project)
    assert done.returncode == 0, done.stdout
    assert set(checks(done).values()) == {"ok"}


def test_a_corrupt_object_and_a_leftover_temporary_file_are_found_then_repaired(project: Path) -> None:
    objects = project / ".cellpipe" / "objects"
    victim = next(p for p in objects.rglob("*") if p.is_file())
    os.chmod(victim, 0o644)
    victim.write_bytes(victim.read_bytes() + b"damage")
    (victim.parent / ".half-written.1234.tmp").write_bytes(b"x")
    # The check finds both, and the cache entry that needs the object: exit 3
    done = cellpipe("doctor", "--json", cwd=project)
    assert done.returncode == 3
    found = checks(done)
    assert found["object hashes"] == "problem" and found["unfinished writes"] == "problem"
    assert found["cache entries"] == "problem"
    assert "does not hash to its name" in done.stdout
    # --repair removes them, and the store is healthy again
    done = cellpipe("doctor", "--repair", cwd=project)
    assert done.returncode == 0, done.stdout
    assert "repaired" in done.stdout
    assert cellpipe("doctor", cwd=project).returncode == 0
    # and the next run remakes what was lost
    done = cellpipe("run", "flow.ipynb", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "done" in {s["state"] for s in json.loads(done.stdout)["steps"]}


def test_a_run_left_running_by_a_dead_process_is_found_and_recorded_interrupted(project: Path) -> None:
    db = sqlite3.connect(project / ".cellpipe" / "cellpipe.db")
    with db:
        db.execute("UPDATE runs SET state='running', pid=999999999")
    db.close()
    done = cellpipe("doctor", "--json", cwd=project)
    assert done.returncode == 3 and checks(done)["unfinished runs"] == "problem"
    # `runs` already tells it from a live run
    runs = json.loads(cellpipe("runs", "--json", cwd=project).stdout)
    assert (runs[0]["state"], runs[0]["alive"]) == ("interrupted", False)
    assert cellpipe("doctor", "--repair", cwd=project).returncode == 0
    db = sqlite3.connect(project / ".cellpipe" / "cellpipe.db")
    assert db.execute("SELECT state FROM runs").fetchone()[0] == "interrupted"
    db.close()


def test_a_damaged_database_is_reported_with_the_fix_and_not_written_to(project: Path) -> None:
    path = project / ".cellpipe" / "cellpipe.db"
    for extra in ("-wal", "-shm"):
        Path(str(path) + extra).unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))
    done = cellpipe("doctor", "--repair", cwd=project)
    assert done.returncode == 3
    assert "database integrity" in done.stdout and "move the store folder aside" in done.stdout
    assert path.read_bytes()[:16] == b"not a database!!"


def test_doctor_without_a_store_is_a_usage_error(tmp_path: Path) -> None:
    done = cellpipe("doctor", cwd=tmp_path)
    assert done.returncode == 2 and "no cellpipe store" in done.stderr
