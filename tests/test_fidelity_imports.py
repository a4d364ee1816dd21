"""Import side effects within a package: in Run All, a later cell may reach a
submodule (``graphics.gofplots``) only because an earlier cell imported another
part of the package (``import statsmodels.api``). A step importing from that
package gets those earlier imports too (found in the corpus: sm_glm, ordinary
kernels; forked kernels hide it, their server has imported the package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compile_cells, write_notebook
from fidelity import assert_same_as_run_all

CELLS = [
    ("import statsmodels.api as sm\nimport os\nmodel_name = 'ols'", ("step:fit",)),
    ("import json\nsizes = [1, 2, 3]", ("step:other",)),
    ("from statsmodels import graphics\nprint(hasattr(graphics, 'gofplots'), model_name)", ("step:plot",)),
]


def test_a_step_importing_from_a_package_gets_the_earlier_imports_of_that_package_only():
    steps = {s.name: s for s in compile_cells(("nb.ipynb", CELLS)).pipeline.steps}
    assert steps["plot"].imports == ("import statsmodels.api as sm",)
    assert steps["plot"].import_cells == (0,)
    assert steps["other"].imports == ()  # json is its own package: nothing copied


@pytest.mark.kernel
@pytest.mark.parametrize("fork", [True, False], ids=["fork", "ordinary"])
def test_a_submodule_reached_through_an_earlier_import_works_as_in_run_all(tmp_path: Path, fork: bool) -> None:
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", CELLS), fork=fork)
