"""The store survives what real life does to it: SIGKILL in the middle of a
step, two runs at once, Ctrl-C, a notebook deleted between runs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_notebook

pytestmark = pytest.mark.kernel

CELLS = [
    ("import time\nimport os", ("imports",)),
    ("a = 1", ("step:first",)),
    ("b = a + 1", ("step:second",)),
    ("if os.path.exists('slow'):\n    time.sleep(60)\nc = b + 1", ("step:slow",)),
    ("d = c + 1", ("step:last",)),
]


def cellpipe(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cellpipe.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for_state(store: Path, step: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (store / "cellpipe.db").exists():
            db = sqlite3.connect(store / "cellpipe.db", timeout=10)
            try:
                row = db.execute("SELECT state FROM step_runs WHERE step=? ORDER BY started DESC LIMIT 1",
                                 (step,)).fetchone()
            except sqlite3.OperationalError:
                row = None
            finally:
                db.close()
            if row and row[0] == state:
                return
        time.sleep(0.2)
    raise AssertionError(f"step {step} never reached {state}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    (tmp_path / "slow").write_text("")
    return tmp_path


def summary_of(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, dict, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, (json.loads(out) if out.strip().startswith("{") else {}), err


def test_sigkill_mid_step_leaves_a_store_the_next_run_resumes_from(project: Path) -> None:
    # Given a run killed with SIGKILL while its third step runs
    proc = cellpipe("run", "flow.ipynb", "--json", cwd=project)
    wait_for_state(project / ".cellpipe", "slow", "running")
    proc.kill()
    proc.wait()
    # Then no object is half-written
    for tmp in (project / ".cellpipe" / "objects").rglob(".*"):
        pytest.fail(f"temporary file left in the object store: {tmp}")
    # When the next run starts (the slow step is now quick)
    (project / "slow").unlink()
    code, summary, err = summary_of(cellpipe("run", "flow.ipynb", "--json", cwd=project))
    # Then it reuses every step that finished and reruns the rest
    assert code == 0, err
    states = {s["step"]: s["state"] for s in summary["steps"]}
    assert states == {"first": "cached", "second": "cached", "slow": "done", "last": "done"}
    runs = subprocess.run([sys.executable, "-m", "cellpipe.cli", "runs", "--json"], cwd=project,
                          capture_output=True, text=True, check=True)
    assert [r["state"] for r in json.loads(runs.stdout)] == ["succeeded", "interrupted"]


def test_a_second_run_on_the_same_store_is_refused_with_a_clear_message(project: Path) -> None:
    first = cellpipe("run", "flow.ipynb", "--json", cwd=project)
    try:
        wait_for_state(project / ".cellpipe", "slow", "running")
        code, _, err = summary_of(cellpipe("run", "flow.ipynb", cwd=project))
        assert code == 2
        assert "is in use by run" in err and "Fix: wait for it to finish" in err
    finally:
        first.send_signal(signal.SIGINT)
        summary_of(first)


def test_ctrl_c_stops_the_kernels_and_marks_the_run_interrupted(project: Path) -> None:
    proc = cellpipe("run", "flow.ipynb", "--json", cwd=project, start_new_session=True)
    wait_for_state(project / ".cellpipe", "slow", "running")
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    code, summary, _ = summary_of(proc)
    assert time.monotonic() - started < 30
    assert code == 130 and summary["exit_code"] == 130
    states = {s["step"]: s["state"] for s in summary["steps"]}
    assert states["slow"] == "interrupted" and states["last"] == "skipped"
    assert summary["state"] == "interrupted"
    # no kernel of ours is left running
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(project) not in ps
    # and the store is usable
    (project / "slow").unlink()
    code, summary, err = summary_of(cellpipe("run", "flow.ipynb", "--json", cwd=project))
    assert code == 0, err
    assert {s["step"]: s["state"] for s in summary["steps"]}["first"] == "cached"


def test_a_notebook_deleted_between_runs_is_a_clear_error(project: Path) -> None:
    (project / "slow").unlink()
    code, _, _ = summary_of(cellpipe("run", "flow.ipynb", "--json", cwd=project))
    assert code == 0
    (project / "flow.ipynb").unlink()
    code, _, err = summary_of(cellpipe("run", "flow.ipynb", cwd=project))
    assert code == 2
    assert "flow.ipynb: error CP001: the notebook does not exist" in err
    # the store still answers
    shown = subprocess.run([sys.executable, "-m", "cellpipe.cli", "runs"], cwd=project,
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "succeeded" in shown.stdout


def test_a_kernel_that_dies_fails_its_step_instead_of_hanging_the_run(tmp_path: Path) -> None:
    # Given a step whose kernel is killed while the step runs (as the OOM killer would)
    write_notebook(tmp_path / "flow.ipynb", [
        ("a = 1", ("step:first",)),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\nb = a", ("step:crash",)),
        ("c = b + 1", ("step:after",)),
        ("d = a + 1", ("step:other",)),
    ])
    started = time.monotonic()
    code, summary, _ = summary_of(cellpipe("run", "flow.ipynb", "--json", cwd=tmp_path), timeout=90)
    # Then the step fails with a message that says what happened, and the run ends
    assert time.monotonic() - started < 60
    assert code == 1
    states = {s["step"]: s["state"] for s in summary["steps"]}
    assert states == {"first": "done", "crash": "failed", "after": "skipped", "other": "done"}
    crash = next(s for s in summary["steps"] if s["step"] == "crash")
    assert "the step's kernel died while it ran" in crash["error"]["message"]
