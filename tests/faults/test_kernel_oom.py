"""A kernel killed for memory in the middle of a step: the step fails with a
message that says so, the run ends, the store stays sound, and the run after a
fix resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults.faults_support import cellpipe, store_problems, wait_gone, write_notebook

pytestmark = pytest.mark.kernel


@pytest.mark.parametrize("how", ["sigkill", "rlimit"])
def test_a_kernel_out_of_memory_fails_its_step_and_the_next_run_resumes(tmp_path: Path, how: str) -> None:
    kill = {
        # what the OOM killer does
        "sigkill": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
        # what a memory limit does: the allocation fails inside the step
        # (the limit is set above what the kernel already maps: an ordinary kernel maps more than a
        # forked one, and a limit below that would starve the error report itself)
        "rlimit": "import os, resource\n"
                  "mapped = int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE')\n"
                  "resource.setrlimit(resource.RLIMIT_AS, (mapped + (512 << 20), mapped + (512 << 20)))\n"
                  "hog = bytearray(4 << 30)",
    }[how]
    write_notebook(tmp_path / "flow.ipynb", [
        ("import os", ("imports",)),
        ("a = list(range(1000))", ("step:make",)),
        ("if not os.path.exists('enough-memory'):\n    " + kill.replace("\n", "\n    ") + "\nb = sum(a)",
         ("step:heavy",)),
        ("c = b + 1", ("step:after",)),
        ("d = len(a)", ("step:other",)),
    ])
    # Given a run whose step runs out of memory
    done = cellpipe("run", "flow.ipynb", "--json", cwd=tmp_path)
    # Then the step fails with a message that says what happened, and the rest is settled
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    states = {s["step"]: s["state"] for s in summary["steps"]}
    assert states == {"make": "done", "heavy": "failed", "after": "skipped", "other": "done"}
    heavy = next(s for s in summary["steps"] if s["step"] == "heavy")
    expected = "the step's kernel died while it ran" if how == "sigkill" else "MemoryError"
    assert expected in heavy["error"]["message"]
    assert store_problems(tmp_path / ".cellpipe") == []
    assert wait_gone(tmp_path / ".cellpipe") == []
    # When the machine has enough memory again
    (tmp_path / "enough-memory").write_text("")
    done = cellpipe("run", "flow.ipynb", "--json", cwd=tmp_path)
    # Then the next run reruns only what failed
    assert done.returncode == 0, done.stderr
    states = {s["step"]: s["state"] for s in json.loads(done.stdout)["steps"]}
    assert states == {"make": "cached", "heavy": "done", "after": "done", "other": "cached"}
