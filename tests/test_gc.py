"""``cellpipe gc`` with real runs: it frees old runs and unreferenced objects, says
how much, and never removes what a kept run, its cache entries or the work tree's
``out:`` files need; it holds the store's lock against a concurrent run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cellpipe.core.digest import digest_bytes
from cellpipe.engine.gc import parse_age
from cellpipe.errors import UsageError
from conftest import write_notebook

pytestmark = pytest.mark.kernel


def cellpipe(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=root, capture_output=True,
                          text=True, timeout=300)


def project(root: Path) -> Path:
    write_notebook(root / "flow.ipynb", [
        ("n = 1", ["parameters"]),
        ("data = list(range(n * 1000))", ["step:make"]),
        ("open('result.txt', 'w').write(f'total {sum(data)}')", ["step:report", "out:result.txt"]),
    ])
    return root


def objects(root: Path) -> set[str]:
    base = root / ".cellpipe" / "objects"
    return {p.parent.name + p.name for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")}


def run(root: Path, *args: str) -> dict:
    proc = cellpipe(root, "run", "flow.ipynb", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_gc_keeps_the_newest_runs_their_cache_and_the_work_trees_files(tmp_path):
    root = project(tmp_path)
    first, _, last = run(root, "-p", "n=1"), run(root, "-p", "n=2"), run(root, "-p", "n=3")
    before = objects(root)
    # a dry run says what would go and removes nothing
    proc = cellpipe(root, "gc", "--keep-last", "1", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("would free ") and "2 runs" in proc.stdout
    assert objects(root) == before and (root / ".cellpipe" / "runs" / first["run"]).is_dir()

    proc = cellpipe(root, "gc", "--keep-last", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["kept_runs"] == 1 and len(report["removed_runs"]) == 2 and report["freed_bytes"] > 0
    assert report["removed_objects"] > 0 and len(objects(root)) < len(before)
    assert not (root / ".cellpipe" / "runs" / first["run"]).exists()
    assert [r["id"] for r in json.loads(cellpipe(root, "runs", "--json").stdout)] == [last["run"]]
    # the kept run's cache entries work: nothing runs again
    again = run(root, "-p", "n=3")
    assert {s["state"] for s in again["steps"]} == {"cached"}
    assert cellpipe(root, "doctor").returncode == 0
    # an old run's cache entry is gone: that step runs again
    older = run(root, "-p", "n=1")
    assert {s["step"]: s["state"] for s in older["steps"]} == {"make": "done", "report": "done"}


def test_gc_of_every_run_keeps_the_object_of_the_work_trees_out_file(tmp_path):
    root = project(tmp_path)
    run(root, "-p", "n=2")
    produced = digest_bytes((root / "result.txt").read_bytes())
    assert produced in objects(root)
    proc = cellpipe(root, "gc", "--keep-last", "0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("freed ") and "1 run," in proc.stdout
    assert objects(root) == {produced}  # the variables' objects went; the work tree's file stays stored
    assert (root / "result.txt").read_text() == f"total {sum(range(2000))}"  # the user's file untouched


def test_gc_without_options_keeps_every_run_and_older_than_keeps_recent_ones(tmp_path):
    root = project(tmp_path)
    first = run(root)
    for args in ([], ["--older-than", "30d"]):
        proc = cellpipe(root, "gc", *args, "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["removed_runs"] == []
    assert (root / ".cellpipe" / "runs" / first["run"]).is_dir()


def test_gc_waits_for_the_store_lock_of_a_run_in_progress(tmp_path):
    root = project(tmp_path)
    write_notebook(root / "flow.ipynb", [
        ("import os\nimport time", ["imports"]),
        ("while os.path.exists('hold'):\n    time.sleep(0.2)\nx = 1", ["step:hold"]),
    ])
    (root / "hold").write_text("")
    proc = subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "run", "flow.ipynb", "--json"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not list((root / ".cellpipe" / "runs").glob("*/hold.log")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        busy = cellpipe(root, "gc", "--keep-last", "0")
        assert busy.returncode == 2 and "in use by run" in busy.stderr
        assert list((root / ".cellpipe" / "runs").iterdir())  # nothing removed
    finally:
        (root / "hold").unlink()
        out, _ = proc.communicate(timeout=120)
        if proc.returncode is None:  # pragma: no cover - only when the assertions above failed
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0 and json.loads(out)["state"] == "succeeded"


@pytest.mark.parametrize("text, seconds", [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("2w", 1209600),
                                           ("7", 7 * 86400), ("45s", 45)])
def test_ages(text, seconds):
    assert parse_age(text) == seconds


def test_a_bad_age_is_a_usage_error():
    with pytest.raises(UsageError, match="30d"):
        parse_age("yesterday")
