"""Issue 7, item 2: values whose state advances when they are used (random
generators, iterators, estimators fitted by a function) are passed on by the
step that used them; steps that only read them stay parallel."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compile_cells, only, write_notebook
from fidelity import assert_same_as_run_all, cellpipe

pytestmark = pytest.mark.kernel

STATE = [
    ("def train(m, X, y):\n    m.fit(X, y)\n    return m", ("functions",)),
    (
        "import numpy as np\nfrom sklearn.model_selection import train_test_split, cross_val_score\n"
        "from sklearn.linear_model import LinearRegression\n"
        "rng = np.random.RandomState(0)\nX = np.arange(40.0).reshape(20, 2)\ny = X @ [1.0, 2.0]\n"
        "it = iter(range(6))\nmodel = LinearRegression()",
        ("step:make",),
    ),
    ("X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=rng)\nprint(y_te)", ("step:split",)),
    ("print(rng.randint(0, 100, 3))", ("step:draw",)),
    ("print(next(it), next(it))", ("step:take",)),
    ("print(list(it))", ("step:rest",)),
    ("train(model, X, y)", ("step:fit",)),
    ("print(round(cross_val_score(model, X, y, cv=2).mean(), 3))", ("step:cv",)),
    ("print(model.coef_.round(3))", ("step:report",)),
]


@pytest.fixture(params=[True, False], ids=["fork", "plain"])
def fork(request: pytest.FixtureRequest) -> bool:
    return request.param


def producers(step) -> dict[str, str]:
    return {v.name: v.producer for v in step.var_inputs}


def test_a_stateful_value_passed_to_a_function_comes_from_the_step_that_passed_it() -> None:
    result = compile_cells(("nb.ipynb", STATE))
    assert result.ok, [d.format() for d in result.diagnostics]
    p = result.pipeline
    assert producers(p.step("draw")) == {"rng": "split"}
    assert producers(p.step("rest")) == {"it": "take"}
    assert producers(p.step("report")) == {"model": "fit"}
    # cross_val_score fits clones: the step only reads `model`, and nothing waits for it
    assert producers(p.step("cv"))["model"] == "fit"
    assert not any(v.producer == "cv" for s in p.steps for v in s.var_inputs)


def test_the_same_value_made_by_a_plain_call_is_not_stateful() -> None:
    cells = [
        ("import numpy as np\nX = np.ones(3)", ("step:make",)),
        ("print(np.sum(X))", ("step:a",)),
        ("print(np.mean(X))", ("step:b",)),
    ]
    p = compile_cells(("nb.ipynb", cells)).pipeline
    assert producers(p.step("b")) == {"X": "make"}


def test_stateful_values_run_like_run_all(tmp_path: Path, fork: bool) -> None:
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", STATE), fork)


# corpus class F: a generator or an open file cannot go from one kernel to another;
# validate says so before anything runs, naming the cell and the fix
@pytest.mark.parametrize("make, use, kind", [
    ("import itertools\nsquares = (i * i for i in range(10))\nprint(list(itertools.islice(squares, 3)))",
     "print(list(squares))", "a generator"),
    ("def gen():\n    yield from range(3)\n\nsquares = gen()", "print(next(squares))", "a generator"),
    ("fh = open('data.txt')\nprint(fh.readline())", "print(fh.readline())", "an open file"),
])
def test_a_value_that_cannot_cross_kernels_is_refused_by_validate(tmp_path: Path, make: str, use: str,
                                                                   kind: str) -> None:
    cells = [(make, ("step:make",)), ("x = 1", ("step:other",)), (use, ("step:use",))]
    result = compile_cells(("nb.ipynb", cells))
    diag = only(result.diagnostics, "CP204")
    assert diag.severity == "error" and diag.cell == 2
    assert kind in diag.message and "step 'make' (cell 1)" in diag.message
    assert "cell 3 into step 'make'" in diag.fix
    (tmp_path / "data.txt").write_text("one\ntwo\n")
    write_notebook(tmp_path / "nb.ipynb", cells)
    done = cellpipe("run", "nb.ipynb", cwd=tmp_path, fork=True)
    assert done.returncode != 0 and "CP204" in done.stdout + done.stderr  # refused before any step ran
    assert not (tmp_path / ".cellpipe" / "runs").exists() or not any((tmp_path / ".cellpipe" / "runs").iterdir())


def test_a_generator_used_in_the_step_that_made_it_is_fine() -> None:
    cells = [("squares = (i * i for i in range(10))\nfirst = next(squares)", ("step:make",)),
             ("print(first)", ("step:use",))]
    assert not [d for d in compile_cells(("nb.ipynb", cells)).diagnostics if d.code == "CP204"]
