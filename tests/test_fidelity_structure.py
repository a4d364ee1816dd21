"""Issue 7, corpus class E: a step whose code cells hold only comments (jupytext makes
one of a script's closing ``# %%`` section of notes) is a step that does nothing:
validate accepts it and the run gives Run All's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_notebook
from fidelity import assert_same_as_run_all, cellpipe

pytestmark = pytest.mark.kernel


def test_a_step_of_comments_only_runs_and_does_nothing(tmp_path: Path) -> None:
    cells = [
        ("x = 2\nprint(x)", ("step:make",)),
        ("# %%\n# Closing notes: the model could use more data.\n# See the report.", ("step:notes",)),
        ("print(x * 3)", ("step:report",)),
    ]
    notebook = write_notebook(tmp_path / "nb.ipynb", cells)
    checked = cellpipe("validate", notebook.name, cwd=tmp_path, fork=True)
    assert checked.returncode == 0 and "CP130" not in checked.stdout, checked.stdout + checked.stderr
    summary = assert_same_as_run_all(notebook, fork=True)
    assert {s["step"]: s["state"] for s in summary["steps"]} == {"make": "done", "notes": "done", "report": "done"}
