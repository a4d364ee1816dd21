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


@pytest.mark.kernel
@pytest.mark.parametrize("fork", [True, False])
def test_an_array_a_helper_changes_in_place_behaves_as_in_run_all(tmp_path: Path, fork: bool) -> None:
    # The analysis cannot see into `bump`, so `arr` is taken as read-only and mapped
    # copy-on-write (it is over 1 MB): the write must still work, be seen by the steps
    # after, and leave the stored array of step 'make' as it was.
    cells = [
        ("import numpy as np", ("imports",)),
        ("def bump(a):\n    a += 1\n    a[0, 0] = -5", ("functions",)),
        ("arr = np.zeros((600, 600))\nprint(arr.sum())", ("step:make",)),
        ("bump(arr)\nprint(arr.sum(), arr[0, :3], arr.dtype, type(arr).__name__, arr.flags.writeable)",
         ("step:use",)),
        ("print(arr.sum(), arr[0, :3])", ("step:after",)),
    ]
    summary = assert_same_as_run_all(write_notebook(tmp_path / "nb.ipynb", cells), fork=fork)
    assert {s["step"]: s["state"] for s in summary["steps"]} == {"make": "done", "use": "done", "after": "done"}
