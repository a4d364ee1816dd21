"""Issue 7, item 1, corpus classes L and G: names used inside formula strings.

statsmodels' formula API (patsy) evaluates a formula's terms in the caller's
namespace: ``np.sin(x1)`` needs ``np``, ``double_it(x)`` a notebook function. The
analysis reads formula strings (a literal, or a name bound to one) and
``df.query("x > @limit")``: those names are inputs of the step that calls. A model
fitted with a formula evaluates it again when it is unpickled, so a step that
loads the model gets what its formula uses, too."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellpipe.core.analysis import analyze, formula_names
from conftest import compile_cells, write_notebook
from fidelity import assert_same_as_run_all, run_split

DATA = ("import numpy as np\nimport pandas as pd\nimport statsmodels.formula.api as smf\n"
        "data = pd.DataFrame({'x1': np.linspace(0, 10, 40)})\n"
        "data['y'] = 2 * data['x1'] + np.sin(data['x1'])\nlimit = 5", ("step:data",))
FORMULAS = [
    DATA,
    ("res = smf.ols('y ~ x1 + np.sin(x1) + I((x1 - 5) ** 2)', data=data).fit()\nprint(res.params.round(4))",
     ("step:numpy_in_formula",)),
    ("def double_it(x):\n    return 2 * x\n\nformula = 'y ~ double_it(x1)'\n"
     "mod2 = smf.ols(formula=formula, data=data).fit()", ("step:function_in_formula",)),
    ("print(round(mod2.params.iloc[1] * 2, 6))", ("step:loads_the_model",)),
    ("print(len(data.query('x1 > @limit')))", ("step:query",)),
]


def producers(step) -> dict[str, str]:
    return {v.name: v.producer for v in step.var_inputs}


@pytest.mark.parametrize("formula, names", [
    ("y ~ x1 + np.sin(x1) + I((x1-5)**2)", ["y", "x1", "np", "I"]),
    ("SUCCESS ~ double_it(LOWINC) + C(g, Treatment(reference='a'))",
     ["SUCCESS", "double_it", "LOWINC", "C", "g", "Treatment"]),
    ("np.log(y) ~ x:z - 1", ["np", "y", "x", "z"]),
])
def test_the_names_a_formula_reads(formula: str, names: list[str]) -> None:
    assert formula_names(formula) == names


def test_a_formula_in_a_name_and_a_fitted_model_carry_the_names_the_formula_uses() -> None:
    facts = analyze("f = 'y ~ double_it(x)'\nmod = smf.ols(formula=f, data=d)\nres = mod.fit()")
    assert {"double_it", "x"} <= set(facts.late_reads)
    assert dict(facts.carries)["res"] == ("y", "double_it", "x")


def test_names_in_formulas_and_queries_are_inputs_of_the_step() -> None:
    p = compile_cells(("nb.ipynb", FORMULAS)).pipeline
    assert "import numpy as np" in p.step("numpy_in_formula").imports
    assert producers(p.step("query"))["limit"] == "data"
    # the model's formula calls double_it: the step that loads the model loads it too
    assert producers(p.step("loads_the_model")) == {"mod2": "function_in_formula",
                                                    "double_it": "function_in_formula"}


@pytest.mark.kernel
def test_formulas_run_like_run_all(tmp_path: Path) -> None:
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", FORMULAS), fork=True)


@pytest.mark.kernel
def test_a_model_whose_formula_needs_a_missing_function_names_it_in_the_fix(tmp_path: Path) -> None:
    # the formula's name is built at run time: the analysis cannot see it, the load error must say what to do
    cells = [
        DATA,
        ("def double_it(x):\n    return 2 * x\n\nmod2 = smf.ols(formula='y ~ ' + 'double_it(x1)'[:0] + "
         "''.join(['double_it', '(x1)']), data=data).fit()", ("step:fit",)),
        ("print(round(mod2.params.iloc[1] * 2, 6))", ("step:report",)),
    ]
    write_notebook(tmp_path / "nb.ipynb", cells)
    summary, _ = run_split(tmp_path / "nb.ipynb", True)
    report = next(s for s in summary["steps"] if s["step"] == "report")
    assert report["state"] == "failed"
    error = report["error"]
    # the message (not the traceback, which quotes the loader's source lines) names the function and the fix
    text = error["message"] if isinstance(error, dict) else str(error)
    assert "double_it" in text and "functions" in text and "again" not in text, text
