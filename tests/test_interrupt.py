"""Ctrl-C and SIGTERM with real runs: the exit code is 130 whenever the signal
comes, and the run is recorded ``interrupted`` at once, not left ``running``."""

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

from cellpipe.engine.launch import LaunchRequest
from conftest import write_notebook

pytestmark = pytest.mark.kernel

SLOW = "while os.path.exists('slow'):\n    time.sleep(0.2)\nb = a + 1"
#: a step that swallows KeyboardInterrupt wherever it lands (the loop's test included: an
#: interrupt there would end the step at once): cancelling it takes the whole grace period.
#: It says when its own code runs: a step is "running" from the moment it has its kernel,
#: and an interrupt landing in the cells that load its inputs ends it at once
STUBBORN = ("open('stubborn', 'w').close()\n"
            "while True:\n    try:\n        if not os.path.exists('slow'):\n            break\n"
            "        time.sleep(60)\n    except KeyboardInterrupt:\n        pass\nb = a + 1")


def project(tmp_path: Path, slow_code: str = SLOW) -> Path:
    write_notebook(tmp_path / "flow.ipynb", [
        ("import os\nimport time", ("imports",)),
        ("a = 1", ("step:first",)),
        (slow_code, ("step:slow",)),
        ("c = b + 1", ("step:last",)),
    ])
    (tmp_path / "slow").write_text("")
    return tmp_path


def start(root: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "run", "flow.ipynb", "--json", *args],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def query(root: Path, sql: str) -> list[tuple]:
    db = root / ".cellpipe" / "cellpipe.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the schema is being created
        return []
    finally:
        conn.close()


def wait_until(what, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def run_states(root: Path) -> list[str]:
    return [r[0] for r in query(root, "SELECT state FROM runs ORDER BY started")]


def step_state(root: Path, step: str) -> str | None:
    rows = query(root, f"SELECT state FROM step_runs WHERE step='{step}'")
    return rows[-1][0] if rows else None


def finish(proc: subprocess.Popen) -> tuple[int, dict]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out) if out.strip().startswith("{") else {"stderr": err}


def test_ctrl_c_records_the_run_interrupted_at_once_even_while_a_step_resists(tmp_path):
    # Given a run whose step ignores the interrupt its kernel receives
    root = project(tmp_path, STUBBORN)
    proc = start(root)
    wait_until(lambda: (root / "stubborn").exists())
    # When Ctrl-C reaches the run
    os.killpg(proc.pid, signal.SIGINT)
    signalled = time.monotonic()
    # Then the store says interrupted while the step is still being stopped (not after its grace period)
    wait_until(lambda: run_states(root) == ["interrupted"], timeout=10)
    assert proc.poll() is None, f"recorded only once the run had ended, {time.monotonic() - signalled:.1f} s after"
    # ... and once the step is killed the run exits 130
    code, summary = finish(proc)
    assert code == 130, summary
    assert summary["state"] == "interrupted"
    assert {s["step"]: s["state"] for s in summary["steps"]} == {
        "first": "done", "slow": "interrupted", "last": "skipped"}
    assert run_states(root) == ["interrupted"] and step_state(root, "slow") == "interrupted"


def test_a_second_ctrl_c_stops_waiting_for_the_step(tmp_path):
    root = project(tmp_path, STUBBORN)
    proc = start(root)
    wait_until(lambda: (root / "stubborn").exists())
    os.killpg(proc.pid, signal.SIGINT)
    wait_until(lambda: run_states(root) == ["interrupted"], timeout=10)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    # the step is killed and recorded without waiting out the 5 s grace
    wait_until(lambda: step_state(root, "slow") == "interrupted", timeout=3)
    code, summary = finish(proc)
    assert code == 130 and summary["state"] == "interrupted"


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path):
    root = project(tmp_path)
    proc = start(root)
    wait_until(lambda: step_state(root, "slow") == "running")
    proc.send_signal(signal.SIGTERM)  # the run process only, as a CI timeout does
    code, summary = finish(proc)
    assert code == 130, summary
    assert summary["state"] == "interrupted"
    assert run_states(root) == ["interrupted"] and step_state(root, "slow") == "interrupted"


def test_ctrl_c_right_after_the_run_starts_exits_130_and_leaves_no_run_running(tmp_path):
    root = project(tmp_path)
    proc = start(root)
    wait_until(lambda: run_states(root) == ["running"])  # before any kernel exists
    os.killpg(proc.pid, signal.SIGINT)
    code, summary = finish(proc)
    assert code == 130, summary
    assert run_states(root) == ["interrupted"]
    assert not query(root, "SELECT step FROM step_runs WHERE state IN ('running', 'pending')")
    # the store is free and the next run completes
    (root / "slow").unlink()
    code, summary = finish(start(root))
    assert code == 0 and summary["state"] == "succeeded"


def test_a_run_launched_with_sigint_ignored_can_still_be_cancelled(tmp_path):
    # Given a run process started by a parent that ignores SIGINT (a server under `nohup ... &`)
    root = project(tmp_path)
    request = tmp_path / "request.json"
    request.write_text(LaunchRequest(("flow.ipynb",)).to_json())

    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-m", "cellpipe.engine.launch", str(request)], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=ignore_sigint)
    wait_until(lambda: step_state(root, "slow") == "running")
    # When it is cancelled as the server does: SIGINT to its process group
    os.killpg(proc.pid, signal.SIGINT)
    # Then it stops, interrupted
    code, summary = finish(proc)
    assert code == 130, summary
    assert summary["state"] == "interrupted" and run_states(root) == ["interrupted"]
