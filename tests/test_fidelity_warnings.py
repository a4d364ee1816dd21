"""Issue 7, items 8 and 2 (the runtime guard): every warning about a changed
input is true, and a change the analysis did not see never leaves a later step
with a stale value: the run learns the edge, runs the reader again after the
step that changed it, and later commands show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import compile_cells, write_notebook
from fidelity import assert_same_as_run_all, cellpipe, run_split

pytestmark = pytest.mark.kernel

LOAD = ("import pandas as pd\ndf = pd.DataFrame({'x': [1, 2]})", ("step:load",))

REBIND = [LOAD, ("df = df.assign(y=df['x'] * 2)", ("step:join",)), ("print(df)", ("step:report",))]

SEEN_IN_A_FUNCTION = [
    LOAD,
    ("def add_col():\n    df['y'] = df['x'] * 3\nadd_col()", ("step:clean",)),
    ("print(df)", ("step:report",)),
]

UNSEEN = [
    ("import helpers", ("imports",)),
    LOAD,
    ("helpers.bump(df)\nprint('bumped')", ("step:sneaky",)),
    ("print(df)", ("step:report",)),
]


@pytest.fixture(params=[True, False], ids=["fork", "plain"])
def fork(request: pytest.FixtureRequest) -> bool:
    return request.param


def warnings_of(summary: dict) -> dict[str, list[str]]:
    return {s["step"]: s["warnings"] for s in summary["steps"] if s["warnings"]}


def test_a_change_inside_a_function_the_step_defines_is_seen_by_the_analysis() -> None:
    p = compile_cells(("nb.ipynb", SEEN_IN_A_FUNCTION)).pipeline
    assert p.step("clean").mutated_inputs == ("df",)
    assert {v.name: v.producer for v in p.step("report").var_inputs} == {"df": "clean"}


@pytest.mark.parametrize("cells", [REBIND, SEEN_IN_A_FUNCTION], ids=["rebinds", "seen-in-a-function"])
def test_no_warning_when_the_step_only_rebinds_or_the_analysis_saw_the_change(
        tmp_path: Path, fork: bool, cells: list) -> None:
    summary = assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", cells), fork)
    assert warnings_of(summary) == {}


def test_an_unseen_change_is_learned_and_the_reader_runs_after_it(tmp_path: Path, fork: bool) -> None:
    (tmp_path / "helpers.py").write_text("def bump(d):\n    d['x'] = 0\n")
    nb = write_notebook(tmp_path / "nb.ipynb", UNSEEN)
    # the first run already gives Run All's output: 'report' runs again after 'sneaky'
    summary = assert_same_as_run_all(nb, fork)
    sneaky = next(s for s in summary["steps"] if s["step"] == "sneaky")
    assert any("changed its input df in place" in w and "report" in w for w in sneaky["warnings"]), sneaky
    run_id = summary["run"]
    # the next commands know it
    dag = cellpipe("dag", "nb.ipynb", cwd=tmp_path, fork=fork)
    assert f"report  (nb.ipynb cell 4) <- sneaky [df (learned from run {run_id})]" in dag.stdout, dag.stdout
    status = cellpipe("status", "nb.ipynb", "--json", cwd=tmp_path, fork=fork)
    assert all(r["up_to_date"] for r in json.loads(status.stdout)), status.stdout
    again, texts = run_split(nb, fork)
    assert {s["step"]: s["state"] for s in again["steps"]} == {"load": "cached", "sneaky": "cached",
                                                               "report": "cached"}


# corpus class H: statsmodels' results compute derived values on first access and keep
# them (`cache_readonly`, `summary()`): reading them is not a change of the input
LAZY = [
    ("import numpy as np\nimport statsmodels.api as sm\nX = sm.add_constant(np.linspace(0, 1, 30))\n"
     "y = X @ [1.0, 2.0] + np.sin(np.arange(30))\nres = sm.GLM(y, X).fit()", ("step:fit",)),
    ("print(np.round(res.resid_pearson[:3], 4))\nprint(np.round(res.bse, 4))", ("step:read",)),
    ("print(res.summary().tables[1])\nprint(np.round(res.conf_int(), 4))", ("step:summary",)),
    ("print(np.round(res.params, 4))", ("step:report",)),
]


def test_reading_a_models_lazily_computed_values_is_not_a_change(tmp_path: Path) -> None:
    summary = assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", LAZY), fork=True)
    assert warnings_of(summary) == {}
    p = compile_cells(("nb.ipynb", LAZY)).pipeline
    assert {v.producer for v in p.step("report").var_inputs} == {"fit"}  # nothing learned: still parallel


def _ols():
    import numpy as np
    import statsmodels.api as sm

    x = sm.add_constant(np.linspace(0, 1, 30))
    return sm.OLS(x @ [1.0, 2.0] + np.sin(np.arange(30)), x).fit(), x


def _autoreg():
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.ar_model import AutoReg

    index = pd.date_range("2000-01-01", periods=40, freq="YS")
    return AutoReg(pd.Series(np.sin(np.arange(40.0)).cumsum(), index=index), lags=2).fit()


@pytest.mark.parametrize("make, read", [
    (lambda: _ols()[0], lambda r: [r.HC0_se, r.HC3_se, r.summary()]),
    (lambda: _ols()[0].get_prediction(_ols()[1][:5]), lambda p: p.summary_frame()),
    (_autoreg, lambda r: r.predict(start="2005", end="2045")),
], ids=["hc-errors-and-summary", "prediction-summary-frame", "time-series-predict"])
def test_the_guard_does_not_take_a_models_lazy_values_for_a_change(make, read) -> None:
    from cellpipe.engine.serialize import fingerprint

    value = make()
    before = fingerprint(value)
    read(value)
    assert fingerprint(value) == before
    value.__dict__["changed"] = 1  # a real change is still one
    assert fingerprint(value) != before
