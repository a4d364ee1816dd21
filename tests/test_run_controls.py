"""Everyday run controls, with real kernels: a failed step's report names the
failing line of the source cell, its log holds its stderr and traceback; time
limits (``--timeout-step``, ``timeout:`` tags) and ``retry:N``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cellpipe.core.tags import parse_tags
from conftest import compile_cells, write_notebook


def cellpipe(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=root, capture_output=True,
                          text=True, timeout=timeout)


def steps_of(out: str) -> dict[str, dict]:
    return {s["step"]: s for s in json.loads(out)["steps"]}


# -- the tags, no kernel ------------------------------------------------------------------


@pytest.mark.parametrize("tag, ok", [
    ("timeout:30", True), ("timeout:0.5", True), ("timeout:0", False), ("timeout:abc", False),
    ("timeout:", False), ("retry:2", True), ("retry:0", True), ("retry:-1", False), ("retry:two", False),
])
def test_timeout_and_retry_tags_take_numbers(tag, ok):
    parsed = parse_tags([tag])
    assert (not parsed.problems) is ok
    if not ok:
        assert "write '" in parsed.problems[0].fix


def test_a_step_carries_its_time_limit_and_retries_and_its_cache_key_ignores_them():
    plain = compile_cells(("nb.ipynb", [("x = 1", ["step:a"])]))
    tagged = compile_cells(("nb.ipynb", [("x = 1", ["step:a", "timeout:90", "retry:2"])]))
    step = tagged.pipeline.step("a")
    assert (step.timeout, step.retries) == (90.0, 2)
    assert plain.pipeline.step("a").timeout is None and plain.pipeline.step("a").retries == 0
    assert step.code_hash == plain.pipeline.step("a").code_hash  # changing a limit does not rerun a step


# -- real runs ------------------------------------------------------------------------------


@pytest.mark.kernel
def test_a_failed_step_shows_the_failing_source_line_and_its_log_holds_stderr(tmp_path):
    write_notebook(tmp_path / "nb.ipynb", [
        ("import sys", ["imports"]),
        ("def ratio(v):\n    return 1 / v", ["functions"]),
        ("x = 0", ["step:load"]),
        ("print('about to divide', file=sys.stderr)\ny = x + 1\nz = ratio(x)", ["step:divide"]),
    ])
    proc = cellpipe(tmp_path, "run", "nb.ipynb", "--json")
    assert proc.returncode == 1, proc.stderr
    error = steps_of(proc.stdout)["divide"]["error"]
    assert (error["notebook"], error["cell"], error["line"], error["code"]) == ("nb.ipynb", 4, 3, "z = ratio(x)")
    text = "\n".join(error["traceback"])
    assert "nb.ipynb cell 2, line 2, in ratio" in text and "----> 2     return 1 / v" in text
    assert error["traceback"][-1] == "ZeroDivisionError: division by zero"
    assert "\x1b[" not in text  # no terminal colours in JSON

    proc = cellpipe(tmp_path, "run", "nb.ipynb")
    assert proc.returncode == 1
    assert "at nb.ipynb cell 4, line 3: z = ratio(x)" in proc.stdout
    assert "ZeroDivisionError: division by zero" in proc.stdout
    run_folder = sorted((tmp_path / ".cellpipe" / "runs").iterdir())[-1]
    log = (run_folder / "divide.log").read_text()
    assert "about to divide" in log  # the step's stderr
    assert "----> 3 z = ratio(x)" in log and "ZeroDivisionError" in log


TIMED = [
    ("import os\nimport time", ["imports"]),
    # tagged: stops at 10 s; its downstream step is skipped
    ("open('slow.pid', 'w').write(str(os.getpid()))\ntime.sleep(120)\na = 1", ["step:slow", "timeout:10"]),
    ("b = a + 1", ["step:after_slow"]),
    # untagged: --timeout-step applies; it swallows the interrupt, so it is killed
    ("open('stubborn.pid', 'w').write(str(os.getpid()))\n"
     "deadline = time.time() + 120\n"
     "while time.time() < deadline:\n"
     "    try:\n"
     "        time.sleep(0.2)\n"
     "    except KeyboardInterrupt:\n"
     "        pass\n"
     "s = 1", ["step:stubborn"]),
    # independent and quick: finishes
    ("c = 3", ["step:quick", "timeout:60"]),
]


def _gone(pid: int, within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.kernel
def test_a_step_over_its_time_limit_fails_its_kernel_gone_and_independent_steps_finish(tmp_path):
    write_notebook(tmp_path / "nb.ipynb", TIMED)
    started = time.monotonic()
    proc = cellpipe(tmp_path, "run", "nb.ipynb", "--json", "-j", "3", "--timeout-step", "15")
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    steps = steps_of(proc.stdout)
    assert steps["slow"]["state"] == "failed"
    assert "time limit of 10 s (its 'timeout:' tag)" in steps["slow"]["error"]["message"]
    # where it was when stopped, when the interrupted kernel could say so (a kernel killed says nothing)
    assert steps["slow"]["error"].get("line") in (2, None), steps["slow"]
    assert steps["after_slow"]["state"] == "skipped"
    assert steps["stubborn"]["state"] == "failed"
    assert "time limit of 15 s (--timeout-step)" in steps["stubborn"]["error"]["message"]
    assert steps["quick"]["state"] == "done"
    assert took < 90  # not the 120 s the steps would take
    for name in ("slow.pid", "stubborn.pid"):
        assert _gone(int((tmp_path / name).read_text())), f"the kernel of {name} is still running"
    log = Path(steps["slow"]["output_notebook"]).with_suffix(".log").read_text()
    assert "time limit of 10 s" in log


FLAKY = [
    ("import pathlib", ["imports"]),
    # fails twice, then works: retry:2 is enough
    ("n = int(pathlib.Path('tries').read_text() or 0) + 1 if pathlib.Path('tries').exists() else 1\n"
     "pathlib.Path('tries').write_text(str(n))\n"
     "if n < 3:\n"
     "    raise ConnectionError(f'flaky attempt {n}')\n"
     "data = n", ["step:fetch", "retry:2"]),
    ("total = data * 10", ["step:use"]),
    ("raise OSError('always down')", ["step:broken", "retry:1"]),
]


@pytest.mark.kernel
def test_retry_runs_a_failed_step_again_in_a_fresh_kernel_and_shows_each_attempt(tmp_path):
    write_notebook(tmp_path / "nb.ipynb", FLAKY)
    proc = cellpipe(tmp_path, "run", "nb.ipynb", "--json")
    assert proc.returncode == 1, proc.stderr
    steps = steps_of(proc.stdout)
    fetch = steps["fetch"]
    assert fetch["state"] == "done" and steps["use"]["state"] == "done"
    assert [a["attempt"] for a in fetch["attempts"]] == [1, 2]
    assert "flaky attempt 1" in fetch["attempts"][0]["message"]
    assert fetch["output_notebook"].endswith("fetch.attempt3.ipynb")
    assert all(Path(a["output_notebook"]).exists() for a in fetch["attempts"])
    assert any("attempt 2 of 3 failed" in w for w in fetch["warnings"])
    broken = steps["broken"]
    assert broken["state"] == "failed" and len(broken["error"]["attempts"]) == 1
    assert "always down" in broken["error"]["message"]
    # the store holds the attempts too
    shown = cellpipe(tmp_path, "show", json.loads(proc.stdout)["run"], "--json")
    recorded = {s["step"]: s for s in json.loads(shown.stdout)["steps"]}
    assert len(recorded["broken"]["error"]["attempts"]) == 1
    assert any("attempt 1 of 3 failed" in w for w in recorded["fetch"]["warnings"])
