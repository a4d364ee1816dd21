"""Issue 7, corpus class K: a value a step loads behaves like the value Run All
has, down to what a notebook may write into: ``X.values`` of a DataFrame whose
columns are held apart (``sm.add_constant``) is a writable copy in Run All, and
so it is in the step that loads ``X``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe.engine.serialize import load_value, save_value
from conftest import write_notebook
from fidelity import assert_same_as_run_all


def frame_with_columns_apart() -> pd.DataFrame:
    df = pd.DataFrame({"x": np.arange(4.0), "y": np.arange(4.0) ** 2})
    df.insert(0, "const", 1.0)  # what sm.add_constant does
    return df


@pytest.mark.parametrize("make, writable", [
    (frame_with_columns_apart, True),
    (lambda: pd.DataFrame(np.arange(8.0).reshape(4, 2), columns=["a", "b"]), False),  # one block: a view
    (lambda: pd.DataFrame({"a": [1.0, 2.0], "s": ["u", "v"]}), True),  # mixed types: always a copy
])
def test_a_loaded_frames_values_are_writable_exactly_when_the_originals_are(
        tmp_path: Path, make, writable: bool) -> None:
    original = make()
    assert original.values.flags.writeable is writable  # the premise: what Run All has
    loaded = load_value(tmp_path, save_value(original, tmp_path, "df"))
    pd.testing.assert_frame_equal(loaded, original)
    assert loaded.values.flags.writeable is writable


@pytest.mark.kernel
def test_writing_into_values_of_a_loaded_frame_runs_like_run_all(tmp_path: Path) -> None:
    cells = [
        ("import numpy as np\nimport pandas as pd\n"
         "X = pd.DataFrame({'x': np.arange(1.0, 5.0), 'y': np.arange(1.0, 5.0) ** 2})\n"
         "X.insert(0, 'const', 1.0)", ("step:load",)),
        ("norm_x = X.values\nfor i, name in enumerate(X):\n"
         "    norm_x[:, i] = X[name] / np.linalg.norm(X[name])\nprint(norm_x.round(3))", ("step:norm",)),
    ]
    assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", cells), fork=True)
