"""Issue 7, corpus class M: a cached step's output notebook is in the run folder.

A step whose code repeats an earlier step's on equal inputs (a twin) is reused from
that step's execution in the same run; a step reused from an earlier run did not
run either. What their cells printed must still be in this run's folder, cell by
cell, under their own cells, as Run All printed it."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from conftest import write_notebook
from fidelity import assert_same_as_run_all, run_split

pytestmark = pytest.mark.kernel

TWINS = [
    ("x = 21", ("step:make",)),
    ("print(x * 2)", ("step:first",)),
    ("y = x + 1\nprint(y)", ("step:between", "after:first")),
    ("print(x * 2)", ("step:again", "after:between")),  # runs after its twin finished
]


@pytest.fixture(params=[True, False], ids=["fork", "plain"])
def fork(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_a_twin_step_cached_in_the_same_run_shows_its_cells_outputs(tmp_path: Path, fork: bool) -> None:
    summary = assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", TWINS), fork)
    steps = {s["step"]: s for s in summary["steps"]}
    # the twin really was reused, not run: the point of the test
    assert steps["again"]["state"] == "cached", steps["again"]
    assert steps["again"]["cached_from"] == summary["run"]
    out = Path(steps["again"]["output_notebook"])
    assert out.parent == Path(steps["first"]["output_notebook"]).parent  # in this run's folder
    meta = nbformat.read(out, as_version=4).metadata["cellpipe"]
    assert meta["cached_from"] == {"run": summary["run"], "step": "first"}


def test_a_step_cached_from_an_earlier_run_has_its_notebook_in_the_new_run(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "nb.ipynb", TWINS)
    first, texts_first = run_split(notebook, True)
    second, texts_second = run_split(notebook, True)
    assert {s["state"] for s in second["steps"]} == {"cached"}
    assert texts_second == texts_first and texts_first[3] == "42\n"
    folders = {Path(s["output_notebook"]).parent for s in second["steps"]}
    assert len(folders) == 1 and second["run"] in str(folders.pop())
    assert json.dumps(second).count(first["run"]) == len(second["steps"])  # cached_from names the run
