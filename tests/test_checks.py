"""Checks as pipeline gates: a ``check`` cell's failed asserts and ``cellpipe.check``
calls end the step ``check_failed`` with every message, block the steps after it,
and make ``cellpipe run`` exit 3 (a crash exits 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellpipe.cli import main
from cellpipe.core.tags import parse_tags
from conftest import write_notebook

pytestmark = pytest.mark.kernel


def run(nb: str, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["run", nb, "--json", "-j", "1", *args])
    return code, json.loads(capsys.readouterr().out)


def states(summary: dict) -> dict[str, str]:
    return {s["step"]: s["state"] for s in summary["steps"]}


@pytest.mark.parametrize("tag", ["check", "pipeline-check", "pipeline-checks"])
def test_every_spelling_of_the_check_tag_marks_a_check_cell(tag: str) -> None:
    assert parse_tags([tag, "step:validate"]).roles == frozenset({"check"})


GATED = [
    ("import cellpipe", ("imports",)),
    ("rows = [1, 2, None, 4]\nlimit = 3", ("step:load",)),
    (
        "assert len(rows) == 4\n"
        "assert None not in rows, 'rows has a missing value'\n"
        "cellpipe.check(max(r for r in rows if r) <= limit, f'values above {limit}')\n"
        "assert len(rows) > 1",
        ("step:validate", "check"),
    ),
    ("clean = [r for r in rows if r]", ("step:train",)),
    ("other = 1", ("step:independent",)),
]


def test_a_failing_check_blocks_downstream_exits_3_and_names_every_failed_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", GATED)
    monkeypatch.chdir(tmp_path)
    code, summary = run("flow.ipynb", capsys)
    assert code == 3
    got = states(summary)
    assert got["validate"] == "check_failed"
    assert got["train"] == "skipped" and got["independent"] == "done"
    train = next(s for s in summary["steps"] if s["step"] == "train")
    assert "check of upstream step validate failed" in train["reason"]
    error = next(s for s in summary["steps"] if s["step"] == "validate")["error"]
    failed = [c for c in error["checks"] if not c["passed"]]
    # both failed checks, not only the first; the passing ones are kept too
    assert [c["message"] for c in failed] == ["rows has a missing value (assert None not in rows)",
                                             "values above 3"]
    assert len(error["checks"]) == 4 and error["cell"] == 3 and error["notebook"] == "flow.ipynb"

    # the text output and `show` name the failed checks; `runs` says the run's checks failed
    capsys.readouterr()
    assert main(["run", "flow.ipynb", "-j", "1"]) == 3
    text = capsys.readouterr().out
    assert "step validate check failed in flow.ipynb cell 3: 2 of 4 checks failed" in text
    assert "rows has a missing value" in text and "values above 3" in text
    assert main(["show", summary["run"]]) == 0
    assert "values above 3" in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [c["message"] for c in runs[-1]["checks"] if not c["passed"]] == [c["message"] for c in failed]


def test_a_crash_in_a_check_cell_is_a_crash_and_exits_1(tmp_path: Path, monkeypatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", [("x = {}", ("step:load",)),
                                             ("assert x['missing'] == 1", ("step:validate", "check"))])
    monkeypatch.chdir(tmp_path)
    code, summary = run("flow.ipynb", capsys)
    assert code == 1 and states(summary)["validate"] == "failed"


def test_passing_checks_let_the_pipeline_run(tmp_path: Path, monkeypatch, capsys) -> None:
    cells = [("import cellpipe", ("imports",)), ("rows = [1, 2, 3]", ("step:load",)),
             ("assert len(rows) == 3\ncellpipe.check(all(rows), 'no zeros')", ("step:validate", "check")),
             ("total = sum(rows)", ("step:train",))]
    write_notebook(tmp_path / "flow.ipynb", cells)
    monkeypatch.chdir(tmp_path)
    code, summary = run("flow.ipynb", capsys)
    assert code == 0 and set(states(summary).values()) == {"done"}
    validate = next(s for s in summary["steps"] if s["step"] == "validate")
    assert [(c["message"], c["passed"]) for c in validate["checks"]] == [("assert len(rows) == 3", True),
                                                                          ("no zeros", True)]
    # passed checks are recorded: `show` and `runs` count them
    assert main(["show", summary["run"]]) == 0
    assert "step validate: 2 checks passed" in capsys.readouterr().out
    assert main(["runs"]) == 0
    assert "2 passed" in capsys.readouterr().out


DRIFT = [
    ("import cellpipe\nimport pandas as pd", ("imports",)),
    ("df = pd.read_csv('data.csv')", ("step:load", "in:data.csv")),
    ("cellpipe.check_no_nulls(df)\ncellpipe.check_range(df, 'x', min=-10, max=1000)\n"
     "cellpipe.check_rows(df, min=100)\ncellpipe.check_drift(df, 'df')", ("step:validate", "check")),
    ("mean = float(df['x'].mean())", ("step:train", "metrics")),
]


def _write_data(path: Path, shift: float) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    pd.DataFrame({"x": rng.normal(shift, 1.0, 400)}).to_csv(path, index=False)


def test_a_drift_check_fires_on_a_changed_input_file_and_not_on_an_unchanged_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    pytest.importorskip("scipy")
    write_notebook(tmp_path / "flow.ipynb", DRIFT)
    monkeypatch.chdir(tmp_path)
    _write_data(tmp_path / "data.csv", 0.0)
    code, first = run("flow.ipynb", capsys)
    assert code == 0, first  # no baseline yet: nothing to compare with
    # the same data again, computed afresh: no drift
    code, again = run("flow.ipynb", capsys, "--force")
    assert code == 0 and states(again)["validate"] == "done"
    # the input file changes: its distribution moved
    _write_data(tmp_path / "data.csv", 3.0)
    code, moved = run("flow.ipynb", capsys)
    assert code == 3 and states(moved)["validate"] == "check_failed" and states(moved)["train"] == "skipped"
    error = next(s for s in moved["steps"] if s["step"] == "validate")["error"]
    drift = [c for c in error["checks"] if c["name"] == "drift"]
    assert not drift[0]["passed"] and "drift of df against run " + again["run"] in drift[0]["message"]
    assert all(c["passed"] for c in error["checks"] if c["name"] != "drift")


def test_a_metric_check_compares_with_the_last_good_run(tmp_path: Path, monkeypatch, capsys) -> None:
    cells = [("import cellpipe", ("imports",)), ("score = 0.5", ("parameters",)),
             ("accuracy = score", ("step:train", "metrics")),
             ("cellpipe.check_metric('accuracy', accuracy, tolerance=0.05)", ("step:gate", "check"))]
    write_notebook(tmp_path / "flow.ipynb", cells)
    monkeypatch.chdir(tmp_path)
    assert run("flow.ipynb", capsys)[0] == 0
    assert run("flow.ipynb", capsys, "-p", "score=0.47")[0] == 0  # within the tolerance
    code, worse = run("flow.ipynb", capsys, "-p", "score=0.3")
    assert code == 3
    message = next(s for s in worse["steps"] if s["step"] == "gate")["error"]["message"]
    assert "metric accuracy = 0.3" in message and "worse by 0.17" in message


def test_a_check_call_outside_a_check_cell_fails_its_step_as_a_check_and_the_server_record_carries_it(
        tmp_path: Path, monkeypatch, capsys) -> None:
    from cellpipe.engine.store import Store
    from cellpipe.server.records import step_run

    cells = [("import cellpipe", ("imports",)), ("n = 0", ("step:load",)),
             ("cellpipe.check(n > 0, 'n must be positive')\nafter = 1", ("step:train",))]
    write_notebook(tmp_path / "flow.ipynb", cells)
    monkeypatch.chdir(tmp_path)
    code, summary = run("flow.ipynb", capsys)
    assert code == 3 and states(summary)["train"] == "check_failed"
    store = Store(tmp_path / ".cellpipe", readonly=True)
    try:
        row = next(r for r in store.db.step_runs(summary["run"]) if r["step"] == "train")
        record = step_run(row, tmp_path, "failed")
    finally:
        store.close()
    assert record["state"] == "check_failed"
    assert record["error"] is not None and record["error"]["cell"] == 3
    assert [c["message"] for c in record["error"]["checks"]] == ["n must be positive"]
