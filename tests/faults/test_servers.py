"""The Jupyter server's side of faults: a server restarted while its run goes
on, two servers on one root, and Cancel from a server whose process ignores
SIGINT (started with ``nohup … &``). Each "server" is the extension's run
registry, as the server process holds it; a restart is a new registry."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from cellpipe.engine.store import StoreBusy
from cellpipe.server.paths import NotFound
from cellpipe.server.runs import RunRegistry, RunRequest
from faults.faults_support import store_problems, wait_gone, write_notebook

pytestmark = pytest.mark.kernel

SLOW = [("import time", ("imports",)), ("a = 1", ("step:quick",)), ("time.sleep(120)\nb = a", ("step:slow",))]


def wait_for(predicate, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def step_state(registry: RunRegistry, run_id: str, step: str) -> str | None:
    try:
        detail = registry.detail(run_id)
    except NotFound:
        return None
    return next((s["state"] for s in detail["steps"] if s["step"] == step), None)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_notebook(tmp_path / "slow.ipynb", SLOW)
    return tmp_path


def test_a_server_restarted_during_a_run_sees_it_refuses_a_second_and_can_cancel_it(project: Path) -> None:
    # Given a run started by a server that then restarts
    first = RunRegistry(project)
    run_id = first.start(RunRequest("slow.ipynb"))
    wait_for(lambda: step_state(first, run_id, "slow") == "running")
    restarted = RunRegistry(project)
    # Then the restarted server lists the run as running
    listed = {r["id"]: r["state"] for r in restarted.list()["runs"]}
    assert listed[run_id] == "running"
    assert restarted.detail(run_id)["active"] is True
    # and refuses to start a second one on the same store
    with pytest.raises(StoreBusy, match=run_id):
        restarted.start(RunRequest("slow.ipynb"))
    # When it cancels the run it did not start
    restarted.cancel(run_id)
    # Then the run stops, recorded interrupted, and leaves a sound store and no process
    wait_for(lambda: restarted.detail(run_id)["run"]["state"] == "interrupted", timeout=30)
    first.runs[run_id].process.wait(30)
    assert wait_gone(project / ".cellpipe") == []
    assert store_problems(project / ".cellpipe") == []


def test_two_servers_on_one_root_run_one_pipeline_at_a_time(project: Path) -> None:
    one, two = RunRegistry(project), RunRegistry(project)
    run_id = one.start(RunRequest("slow.ipynb"))
    wait_for(lambda: step_state(one, run_id, "slow") == "running")
    # The second server refuses, naming the run that holds the store
    with pytest.raises(StoreBusy, match=run_id):
        two.start(RunRequest("slow.ipynb"))
    # and both see the same run
    assert [r["id"] for r in two.list()["runs"]] == [run_id]
    one.cancel(run_id)
    wait_for(lambda: not one.runs[run_id].alive(), timeout=30)
    assert two.detail(run_id)["run"]["state"] == "interrupted"
    assert store_problems(project / ".cellpipe") == []


def test_cancel_stops_a_run_started_by_a_server_that_ignores_sigint(project: Path) -> None:
    # Given a server process started with `nohup … &`: SIGINT ignored, inherited by its runs
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        registry = RunRegistry(project)
        run_id = registry.start(RunRequest("slow.ipynb"))
    finally:
        signal.signal(signal.SIGINT, previous)
    wait_for(lambda: step_state(registry, run_id, "slow") == "running")
    # When it is cancelled
    started = time.monotonic()
    registry.cancel(run_id)
    # Then the run itself stops on the interrupt (no forced kill needed), recorded interrupted
    registry.runs[run_id].process.wait(30)
    assert time.monotonic() - started < 20
    detail = registry.detail(run_id)
    assert detail["run"]["state"] == "interrupted" and detail["run"]["error"] is None
    assert [(s["step"], s["state"]) for s in detail["steps"]] == [("quick", "done"), ("slow", "interrupted")]
    assert wait_gone(project / ".cellpipe") == []


def test_a_run_that_does_not_stop_on_cancel_is_stopped_by_force_and_that_is_reported(project: Path) -> None:
    # Given a run whose process ignores the interrupt (a stuck native call, say)
    registry = RunRegistry(project)
    run_id = registry.start(RunRequest("slow.ipynb"))
    wait_for(lambda: step_state(registry, run_id, "slow") == "running")
    pid = registry.runs[run_id].process.pid
    # When Cancel's interrupt does nothing (sent as a signal the run does not act on)
    registry.cancel(run_id, sig=signal.SIGWINCH, grace=2.0)
    # Then the run is stopped by force, and the run's record says so
    registry.runs[run_id].process.wait(30)
    wait_for(lambda: run_id in registry.cancel_notes, timeout=10)
    record = next(r for r in registry.list()["runs"] if r["id"] == run_id)
    assert record["state"] == "interrupted"
    assert "did not stop within 2 s of Cancel" in record["error"]
    assert wait_gone(project / ".cellpipe") == [], pid
    assert store_problems(project / ".cellpipe") == []
