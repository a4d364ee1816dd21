"""Papermill notebooks run unchanged: a ``parameters`` cell with computed defaults,
imports, comments and ``pass`` runs as papermill runs it (literal assignments are
the parameters, the rest runs in place with the defaults), and ``-p`` overrides
give what papermill gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import compile_cells, write_notebook

PARAMETERS = (
    "import math\n"
    "# how much data to use\n"
    "rows = 10\n"
    "scale: float = 1.5\n"
    "limit = rows * 2  # computed: -p rows does not reach it, as in papermill\n"
    "label = os.path.join('reports', 'daily')\n"
    "pass\n"
)
CELLS = [
    "import json\nimport os",  # a papermill notebook's first cell: untagged imports
    (PARAMETERS, ["parameters"]),
    "result = {'total': rows * scale, 'limit': limit, 'label': label, 'pi': round(math.pi, 2)}\n"
    "with open('result.json', 'w') as fh:\n"
    "    json.dump(result, fh)",
]


def cellpipe(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=root, capture_output=True, text=True,
                          timeout=300)


def test_a_computed_default_that_overrides_miss_is_the_one_warning():
    result = compile_cells(("report.ipynb", CELLS))
    assert result.ok, [d.format() for d in result.diagnostics]
    # the parameters cell (cell 2) gets one warning: the computed line an override misses
    assert [(d.code, d.line) for d in result.diagnostics if d.cell_number == 2] == [("CP123", 5)]
    assert [p.name for p in result.pipeline.notebooks[0].parameters] == ["rows", "scale"]


def test_a_name_only_one_step_defines_cannot_be_used_by_the_parameters_cell():
    result = compile_cells(("a.ipynb", [
        ("import os", ["step:first"]),
        ("base = 'data'\nfolder = os.path.join(base, 'x')", ["parameters"]),
        ("y = folder", ["step:second"]),
    ]))
    (diag,) = [d for d in result.errors if d.code == "CP124"]
    assert (diag.cell_number, diag.line) == (2, 2)
    assert "uses `os`" in diag.message and "only step 'first' defines it" in diag.message
    assert "tagged `imports`" in diag.fix


@pytest.mark.kernel
def test_a_papermill_notebook_with_computed_parameters_runs_caches_and_is_overridable(tmp_path):
    write_notebook(tmp_path / "report.ipynb", CELLS)
    proc = cellpipe(tmp_path, "run", "report.ipynb")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "result.json").read_text()) == {
        "total": 15.0, "limit": 20, "label": "reports/daily", "pi": 3.14}

    proc = cellpipe(tmp_path, "run", "report.ipynb", "-p", "rows=20", "-p", "scale=2.0", "--json")
    assert proc.returncode == 0, proc.stderr
    mine = json.loads((tmp_path / "result.json").read_text())
    assert mine == {"total": 40.0, "limit": 20, "label": "reports/daily", "pi": 3.14}

    # what papermill itself gives for the same notebook and parameters
    (tmp_path / "result.json").unlink()
    import papermill

    papermill.execute_notebook(str(tmp_path / "report.ipynb"), str(tmp_path / "out.ipynb"),
                               parameters={"rows": 20, "scale": 2.0}, cwd=str(tmp_path), progress_bar=False,
                               kernel_name="python3")
    assert json.loads((tmp_path / "result.json").read_text()) == mine

    # the same parameters again: cached; a changed computed line: runs again
    again = json.loads(cellpipe(tmp_path, "run", "report.ipynb", "-p", "rows=20", "-p", "scale=2.0",
                                "--json").stdout)
    assert [s["state"] for s in again["steps"]] == ["cached"]
    write_notebook(tmp_path / "report.ipynb",
                   [CELLS[0], (PARAMETERS.replace("rows * 2", "rows * 3"), ["parameters"]), CELLS[2]])
    changed = json.loads(cellpipe(tmp_path, "run", "report.ipynb", "--json").stdout)
    assert [s["state"] for s in changed["steps"]] == ["done"]
    assert json.loads((tmp_path / "result.json").read_text())["limit"] == 30
