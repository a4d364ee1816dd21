"""Issue 7, item 3: process-wide settings made in one step reach the steps after
it (replayed in notebook order), or validate says which cell and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import compile_cells, only, write_notebook
from fidelity import assert_same_as_run_all, cellpipe

pytestmark = pytest.mark.kernel

SETTINGS = [
    (
        "import os, sys, warnings\n"
        "import numpy as np\nimport pandas as pd\nimport matplotlib\nmatplotlib.use('Agg')\n"
        "import matplotlib.pyplot as plt\nfrom sklearn import set_config\n"
        "set_config(transform_output='pandas')\n"
        "pd.set_option('display.max_columns', 3)\n"
        "np.set_printoptions(precision=2)\n"
        "plt.rcParams['font.size'] = 7\n"
        "warnings.filterwarnings('ignore')\n"
        "os.environ['FIDELITY_FLAG'] = 'on'\n"
        "sys.path.append('lib')\n"
        "np.random.seed(0)",
        ("step:setup",),
    ),
    ("df = pd.DataFrame(np.arange(20).reshape(2, 10))\nprint(df)\nprint(np.array([1 / 3]))", ("step:show",)),
    ("from sklearn.preprocessing import StandardScaler\nprint(type(StandardScaler().fit_transform(df)).__name__)",
     ("step:scale",)),
    ("print(np.random.rand(2))", ("step:draw",)),
    ("import helper\nprint(os.environ.get('FIDELITY_FLAG'), plt.rcParams['font.size'], helper.NAME)", ("step:env",)),
]


@pytest.fixture(params=[True, False], ids=["fork", "plain"])
def fork(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_settings_made_in_one_step_reach_the_steps_after_it(tmp_path: Path, fork: bool) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.py").write_text("NAME = 'helper from lib'\n")
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", SETTINGS), fork)


def test_replayed_settings_are_in_the_manifest_and_the_step_key() -> None:
    result = compile_cells(("nb.ipynb", SETTINGS))
    draw = result.pipeline.step("draw")
    statements = [s for _, s in draw.replayed]
    assert statements[0] == "matplotlib.use('Agg')" and statements[-1] == "np.random.seed(0)"
    assert "set_config(transform_output='pandas')" in statements
    changed = [list(c) for c in SETTINGS]
    changed[0] = (SETTINGS[0][0].replace("precision=2", "precision=3"), SETTINGS[0][1])
    again = compile_cells(("nb.ipynb", changed))
    assert again.pipeline.step("draw").code_hash != draw.code_hash


def test_a_setting_inside_a_block_is_a_warning_with_the_cell_and_the_fix(tmp_path: Path) -> None:
    cells = [
        ("import pandas as pd\nif True:\n    pd.set_option('display.max_rows', 5)", ("step:a",)),
        ("print(pd.get_option('display.max_rows'))", ("step:b",)),
    ]
    result = compile_cells(("nb.ipynb", cells))
    diag = only(result.diagnostics, "CP160")
    assert diag.cell == 0 and diag.line == 3 and "pandas.set_option" in diag.message
    assert "imports" in diag.fix
    write_notebook(tmp_path / "nb.ipynb", cells)
    done = cellpipe("validate", "nb.ipynb", cwd=tmp_path, fork=False)
    assert "cell 1: line 3: warning CP160" in done.stdout, done.stdout


def test_drawing_from_a_global_generator_another_step_drew_from_is_a_warning() -> None:
    cells = [
        ("import numpy as np\nnp.random.seed(0)", ("step:seed",)),
        ("a = np.random.rand(3)", ("step:first",)),  # alone after the seed: the replayed seed gives Run All's
        ("b = np.random.normal(size=2)", ("step:second",)),  # after 'first' drew: cannot be Run All's
    ]
    result = compile_cells(("nb.ipynb", cells))
    diag = only(result.diagnostics, "CP161")
    assert diag.cell == 2 and "step 'second'" in diag.message and "step 'first' drew" in diag.message
    assert "default_rng" in diag.fix and "np.random.seed" in diag.fix


def test_a_global_generator_seeded_in_the_drawing_step_is_fine() -> None:
    cells = [
        ("import numpy as np\nnp.random.seed(0)\na = np.random.rand(3)", ("step:first",)),
        ("np.random.seed(1)\nb = np.random.rand(2)", ("step:second",)),
    ]
    result = compile_cells(("nb.ipynb", cells))
    assert not [d for d in result.diagnostics if d.code == "CP161"]


# corpus class B: a module made importable by a setting of an earlier step, imported by
# another earlier step, loaded again by a later step (and an object of its class passed on)
PATH_THEN_IMPORT = [
    ("import sys\nsys.path.append('lib')", ("step:path",)),
    ("import helpers\nthing = helpers.Thing(3)", ("step:load",)),
    ("print(helpers.double(thing.n), thing)", ("step:use",)),
]


def test_a_module_on_a_replayed_sys_path_is_imported_after_the_path_is_set(tmp_path: Path, fork: bool) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helpers.py").write_text(
        "class Thing:\n    def __init__(self, n):\n        self.n = n\n"
        "    def __repr__(self):\n        return f'Thing({self.n})'\n\n"
        "def double(x):\n    return 2 * x\n")
    summary = assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", PATH_THEN_IMPORT), fork)
    assert {s["state"] for s in summary["steps"]} == {"done"}


# corpus class I: a setting made inside a block that restores it when it ends
@pytest.mark.parametrize("block", [
    "import warnings\nwith warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n    x = 1",
    "import pandas as pd\nwith pd.option_context('display.max_rows', 5):\n    pd.set_option('display.width', 40)\n"
    "    x = 1",
    "import numpy as np\nwith np.printoptions(precision=2):\n    np.set_printoptions(suppress=True)\n    x = 1",
])
def test_a_setting_inside_a_block_that_restores_it_is_not_a_warning(block: str) -> None:
    cells = [(block, ("step:a",)), ("print(x)", ("step:b",))]
    result = compile_cells(("nb.ipynb", cells))
    assert not [d for d in result.diagnostics if d.code == "CP160"], [d.format() for d in result.diagnostics]
    assert result.pipeline.step("b").replayed == ()


def test_a_setting_in_a_block_that_does_not_restore_it_is_still_a_warning() -> None:
    cells = [("import warnings\nwith open('f') as fh:\n    warnings.simplefilter('ignore')", ("step:a",)),
             ("print(1)", ("step:b",))]
    assert only(compile_cells(("nb.ipynb", cells)).diagnostics, "CP160").cell == 0
