"""Reproducibility: ``cellpipe run --twice`` and ``cellpipe repro RUN`` run again
without the cache, compare every output and metric, name the step where a
difference starts with its likely cause, and exit 3 when something differs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellpipe.cli import main
from cellpipe.core.nondeterminism import likely_causes
from cellpipe.engine.repro import max_abs_diff
from conftest import compile_cells, write_notebook

REPO = Path(__file__).resolve().parent.parent

UNSEEDED = [
    ("import numpy as np", ("imports",)),
    ("scale = 2.0", ("parameters",)),
    ("base = np.arange(5.0)", ("step:load",)),
    ("noise = base + np.random.normal(0, 1, 5)", ("step:draw",)),
    ("total = float((noise * scale).sum())", ("step:summarize", "metrics")),
    ("fixed = base * scale", ("step:steady",)),
]


@pytest.mark.kernel
def test_twice_names_the_step_with_unseeded_randomness_and_exits_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", UNSEEDED)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["run", "flow.ipynb", "--twice", "--json", "-j", "1"]) == 3
    report = json.loads(capsys.readouterr().out)
    by_step = {s["step"]: s for s in report["differing_steps"]}
    assert set(by_step) == {"draw", "summarize"}  # load and steady reproduced
    draw = by_step["draw"]
    assert draw["origin"] and draw["differences"][0]["name"] == "noise"
    assert draw["differences"][0]["max_abs_diff"] > 0
    assert any("unseeded randomness" in c and "np.random.normal" in c and "cell 4" in c
               for c in draw["likely_causes"])
    assert by_step["summarize"]["upstream"] == ["draw"] and not by_step["summarize"]["origin"]
    assert [(d["kind"], d["name"]) for d in by_step["summarize"]["differences"]] == [("metric", "total")]

    # `repro RUN` does the same for a recorded run, in words
    assert main(["repro", report["first"]]) == 3
    text = capsys.readouterr().out
    assert "step draw differs:" in text and "variable noise:" in text and "max abs diff" in text
    assert "step summarize differs (follows from upstream step draw)" in text
    assert "likely cause: unseeded randomness: `np.random.normal`" in text


@pytest.mark.kernel
def test_a_tolerance_accepts_small_differences(tmp_path: Path, monkeypatch, capsys) -> None:
    cells = [("import numpy as np", ("imports",)),
             ("x = np.arange(3.0) + np.random.uniform(0, 1e-9, 3)", ("step:draw",)),
             ("y = x.sum()", ("step:use",))]
    write_notebook(tmp_path / "flow.ipynb", cells)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "flow.ipynb", "--twice", "--tolerance", "1e-6", "-j", "1"]) == 0
    assert "reproduced: 2 steps gave the same outputs and metrics (1 within the tolerance)" in capsys.readouterr().out


@pytest.mark.kernel
def test_twice_on_the_example_reports_no_difference(tmp_path: Path, monkeypatch, capsys) -> None:
    shutil.copy(REPO / "example_notebooks" / "breast_cancer.ipynb", tmp_path / "breast_cancer.ipynb")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["run", "breast_cancer.ipynb", "--twice", "--json", "-j", "2"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["reproduced"] and report["compared_steps"] == 7 and not report["differing_steps"]


def test_max_abs_diff_of_numbers_arrays_and_frames() -> None:
    assert max_abs_diff(1.0, 1.5) == 0.5
    assert max_abs_diff(np.array([1.0, 2.0]), np.array([1.0, 2.25])) == 0.25
    a = pd.DataFrame({"x": [1.0, 2.0], "name": ["a", "b"]})
    assert max_abs_diff(a, a.assign(x=[1.0, 5.0])) == 3.0
    assert max_abs_diff(a, a.assign(y=1)) is None  # not the same columns: not comparable as numbers
    assert max_abs_diff("text", "other") is None
    assert max_abs_diff(np.array([np.nan]), np.array([np.nan])) == 0.0


@pytest.mark.parametrize(("code", "kind"), [
    ("x = np.random.rand(3)", "unseeded randomness"),
    ("rng = np.random.default_rng()\nx = rng.normal()", "unseeded randomness"),
    ("import time\nx = time.time()", "time"),
    ("from datetime import datetime\nx = datetime.now()", "time"),
    ("from sklearn.ensemble import RandomForestClassifier\nm = RandomForestClassifier(n_jobs=-1)", "thread order"),
])
def test_likely_causes_read_from_the_code(code: str, kind: str) -> None:
    result = compile_cells(("nb.ipynb", [("import numpy as np", ("imports",)), (code, ("step:s",))]))
    assert result.pipeline is not None
    causes = likely_causes(result.pipeline, result.pipeline.step("s"))
    assert [c.kind for c in causes] == [kind]


@pytest.mark.parametrize("code", [
    "np.random.seed(0)\nx = np.random.rand(3)",
    "rng = np.random.default_rng(42)\nx = rng.normal()",
    "m = dict(n_jobs=1)",
])
def test_seeded_code_has_no_likely_cause(code: str) -> None:
    result = compile_cells(("nb.ipynb", [("import numpy as np", ("imports",)), (code, ("step:s",))]))
    assert result.pipeline is not None
    assert likely_causes(result.pipeline, result.pipeline.step("s")) == []
