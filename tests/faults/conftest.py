"""The fault suite: what real life does to a run (SIGKILL at any moment, a kernel
killed for memory, a full disk, a server restarted or doubled), and what must
hold afterwards: a sound store, a correct next run, no process left over.

Quick profile (the default, in the ordinary test run): a few kill trials.
Long profile: ``CELLPIPE_FAULTS=long python -m pytest tests/faults`` runs
``CELLPIPE_FAULT_TRIALS`` (default 40) kill trials; the figures are printed at
the end of the session.
"""

from __future__ import annotations

import json
import os
import tempfile

import pytest

from faults.faults_support import FIGURES

LONG = os.environ.get("CELLPIPE_FAULTS") == "long"
TRIALS = int(os.environ.get("CELLPIPE_FAULT_TRIALS", "40")) if LONG else 4


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "trial" in metafunc.fixturenames:
        metafunc.parametrize("trial", range(TRIALS))


def pytest_configure(config: pytest.Config) -> None:
    # one file of figures for the session, appended to by every xdist worker
    if not hasattr(config, "workerinput") and "CELLPIPE_FAULT_FIGURES" not in os.environ:
        fd, path = tempfile.mkstemp(prefix="cellpipe-faults-", suffix=".jsonl")
        os.close(fd)
        os.environ["CELLPIPE_FAULT_FIGURES"] = path


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    path = os.environ.get("CELLPIPE_FAULT_FIGURES")
    if hasattr(config, "workerinput") or not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as fh:
        figures = [json.loads(line) for line in fh if line.strip()]
    os.unlink(path)
    if not figures:
        return
    FIGURES[:] = figures
    corrupt = sum(1 for f in FIGURES if not f["store_sound"])
    failed = sum(1 for f in FIGURES if not f["resumed"])
    left = sum(f["left_over"] for f in FIGURES)
    terminalreporter.write_line(
        f"cellpipe faults: {len(FIGURES)} kill trials, corrupt stores {corrupt}, "
        f"failed resumes {failed}, processes left over 5 s after the kill {left}")
