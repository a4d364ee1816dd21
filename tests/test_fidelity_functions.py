"""Issue 7, item 1: names read inside shared code and inside functions defined in
steps and passed on are inputs of every step that calls them."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compile_cells, write_notebook
from fidelity import assert_same_as_run_all, cellpipe

pytestmark = pytest.mark.kernel

SHARED = [
    ("def norm(v):\n    return sqrt(v) / scale", ("functions",)),
    ("from math import sqrt\nscale = 2.0\nprint('scale', scale)", ("step:a",)),
    ("print(norm(16.0))", ("step:b",)),
]

IN_STEP = [
    ("k = 3\ndef times_k(v):\n    return helper(v) * k\ndef helper(v):\n    return v + offset", ("step:make",)),
    ("offset = 10\nprint(times_k(1))", ("step:use",)),
    ("k = 5\nprint(times_k(2))", ("step:again",)),
]


@pytest.fixture(params=[True, False], ids=["fork", "plain"])
def fork(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_a_shared_function_makes_what_it_reads_an_input_of_the_step_that_calls_it() -> None:
    result = compile_cells(("nb.ipynb", SHARED))
    assert result.ok, [d.format() for d in result.diagnostics]
    b = result.pipeline.step("b")
    assert [(v.name, v.producer) for v in b.var_inputs] == [("scale", "a")]
    assert "from math import sqrt" in b.imports
    assert b.depends_on == ("a",)


def test_a_function_passed_between_steps_reads_the_callers_names_transitively() -> None:
    result = compile_cells(("nb.ipynb", IN_STEP))
    assert result.ok, [d.format() for d in result.diagnostics]
    use = result.pipeline.step("use")
    assert {(v.name, v.producer) for v in use.var_inputs} == {("times_k", "make"), ("helper", "make"), ("k", "make")}
    again = result.pipeline.step("again")
    # `k` is this step's own, `offset` comes from 'use', as Run All would see them at the call
    assert {(v.name, v.producer) for v in again.var_inputs} == {
        ("times_k", "make"), ("helper", "make"), ("offset", "use")}


def test_dag_shows_the_edge_a_shared_function_makes(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb.ipynb", SHARED)
    done = cellpipe("dag", "nb.ipynb", cwd=tmp_path, fork=False)
    assert done.returncode == 0, done.stderr
    assert "b  (nb.ipynb cell 3) <- a [scale]" in done.stdout, done.stdout


def test_a_shared_function_reading_a_steps_names_runs_like_run_all(tmp_path: Path, fork: bool) -> None:
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", SHARED), fork)


def test_a_function_passed_between_steps_runs_like_run_all(tmp_path: Path, fork: bool) -> None:
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", IN_STEP), fork)
