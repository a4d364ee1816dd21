"""SIGKILL of a run at random moments: of the runner alone, or of its whole
process group (as a CI timeout or `kill -9 -PGID` does)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faults.faults_support import cellpipe, record_figures, store_problems, wait_gone, write_notebook

pytestmark = pytest.mark.kernel

PIPELINE = [
    ("import os, time\nimport numpy as np\nimport pandas as pd", ("imports",)),
    ("n = 3000\ndelay = 0.4", ("parameters",)),
    ("frame = pd.DataFrame({'x': np.arange(n), 'y': np.arange(n) % 7})\ntime.sleep(delay)", ("step:load",)),
    ("frame['z'] = frame.x * 2\ntime.sleep(delay)", ("step:double",)),
    ("counts = frame.groupby('y').size()\nsubprocess_ok = os.system('true') == 0\ntime.sleep(delay)",
     ("step:count",)),
    ("os.makedirs('out', exist_ok=True)\nframe.to_csv('out/frame.csv', index=False)\ntime.sleep(delay)",
     ("step:write", "out:out/frame.csv")),
    ("total = int(frame.z.sum()) + int(counts.sum())\n"
     "with open('total.txt', 'w') as fh:\n    fh.write(str(total))", ("step:total", "out:total.txt")),
]
EXPECTED_TOTAL = 3000 * 2999 + 3000  # sum(2x for x < 3000) + n


def test_sigkill_at_a_random_moment_leaves_a_sound_store_a_correct_next_run_and_no_process(
        tmp_path: Path, trial: int) -> None:
    rnd = random.Random(trial)
    target = "runner" if trial % 2 == 0 else "group"
    delay = rnd.uniform(0.3, 9.0)
    write_notebook(tmp_path / "flow.ipynb", PIPELINE)
    store = tmp_path / ".cellpipe"
    # Given a run killed with SIGKILL at a random moment
    proc = subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "run", "flow.ipynb", "-j", "2", "-q"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(delay)
    finished_first = proc.poll() is not None
    if target == "runner":
        proc.kill()
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    # Then 5 s later no process it started is left
    left = wait_gone(store, 5.0)
    # and the store is sound
    problems = store_problems(store) if (store / "cellpipe.db").exists() else []
    # and the next run finishes correctly, reusing what finished
    done = cellpipe("run", "flow.ipynb", "--json", cwd=tmp_path)
    total = (tmp_path / "total.txt").read_text() if (tmp_path / "total.txt").exists() else None
    resumed = done.returncode == 0 and total == str(EXPECTED_TOTAL)
    after = wait_gone(store, 5.0)
    record_figures({"trial": trial, "target": target, "delay": round(delay, 2), "finished_first": finished_first,
                    "store_sound": not problems, "resumed": resumed, "left_over": len(left)})
    assert left == [], f"left over after killing the {target} at {delay:.1f} s: {left}"
    assert problems == []
    assert resumed, done.stderr
    assert after == []
    runs = cellpipe("runs", "--json", cwd=tmp_path)
    states = [r["state"] for r in __import__("json").loads(runs.stdout)]
    assert states[0] == "succeeded" and "running" not in states
