"""``cellpipe sweep``: grids over the example reuse the shared steps, Bayesian
searches (optuna) resume, multi-objective searches give a Pareto front, and
constraints keep infeasible trials from being the best. Real kernels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cellpipe.cli import main
from cellpipe.core.space import Objective, dominates
from cellpipe.engine.store.db import Database
from cellpipe.engine.store.sweeps import find_sweep, sweep_trials
from conftest import write_notebook

pytestmark = pytest.mark.kernel

EXAMPLE = Path(__file__).resolve().parent.parent / "example_notebooks" / "breast_cancer.ipynb"

# one fast step; the space comes from the parameters cell's annotations
TINY = [
    ("x: int = 0  # sweep: 0..5\ny: float = 1.0", ("parameters",)),
    ("score = -(x - 3) ** 2 + y\nnear_one = -(x - 1) ** 2\nnear_four = -(x - 4) ** 2\ncost = x",
     ("step:score",)),
    ("score\nnear_one\nnear_four\ncost", ("metrics",)),
]


def sweep(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["sweep", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_notebook(tmp_path / "tiny.ipynb", TINY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def db(root: Path) -> Database:
    return Database(root / ".cellpipe" / "cellpipe.db", readonly=True)


def test_a_grid_on_the_example_runs_the_shared_steps_once_and_reports_the_best(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    monkeypatch.chdir(tmp_path)
    code, result = sweep(capsys, EXAMPLE.name, "-p", "n_estimators=4,8,12", "-p", "max_depth=2..3",
                         "--optimize", "forest_roc_auc:max", "-j", "2")
    assert code == 0, result

    # Then: six recorded runs, linked to the sweep in the store
    store = db(tmp_path)
    try:
        trials = sweep_trials(store, result["sweep"])
        assert sorted((t["params"]["n_estimators"], t["params"]["max_depth"]) for t in trials) == [
            (n, d) for n in (4, 8, 12) for d in (2, 3)]
        runs = {t["run_id"] for t in trials}
        assert len(runs) == 6 and all(store.run(r, prefix=False)["state"] == "succeeded" for r in runs)
        executed: dict[str, int] = {}
        for run_id in runs:
            for st in store.step_runs(run_id):
                executed[st["step"]] = executed.get(st["step"], 0) + (st["state"] == "done")
        best_trial = max(trials, key=lambda t: t["metrics"]["forest_roc_auc"])
    finally:
        store.close()
    # the steps no swept parameter reaches ran once for the whole sweep; the forest once per trial
    assert {s: executed[s] for s in ("load", "clean", "features", "train_logreg")} == dict.fromkeys(
        ("load", "clean", "features", "train_logreg"), 1)
    assert executed["train_forest"] == 6
    assert result["steps"]["features"] == {"executed": 1, "cached": 5}

    # and the best parameter set is reported with the command that reruns it
    best = result["best"]
    assert best["metrics"]["forest_roc_auc"] == best_trial["metrics"]["forest_roc_auc"]
    assert best["params"] == best_trial["params"]
    assert f"-p n_estimators={best['params']['n_estimators']}" in best["rerun"]
    assert f"-p max_depth={best['params']['max_depth']}" in best["rerun"]

    # the text output says how the cache served the sweep
    assert main(["sweep", EXAMPLE.name, "-p", "n_estimators=4,8", "-p", "max_depth=2",
                 "--optimize", "forest_roc_auc:max"]) == 0
    text = capsys.readouterr().out
    assert "features: executed 0x, cached 2x" in text
    assert "rerun it: cellpipe run breast_cancer.ipynb -p max_depth=2 -p n_estimators=" in text


def test_a_bayesian_search_resumes_its_study(tiny: Path, capsys) -> None:
    import optuna

    code, first = sweep(capsys, "tiny.ipynb", "--optimize", "score:max", "--trials", "5", "--seed", "1")
    assert code == 0, first
    assert first["kind"] == "optimize" and len(first["trials"]) == 5
    assert first["space"] == [{"name": "x", "kind": "int", "low": 0, "high": 5, "log": False}]

    # When: resumed for three more trials
    code, again = sweep(capsys, "tiny.ipynb", "--resume", "--trials", "3", "--seed", "2")
    assert code == 0, again

    # Then: the same sweep and the same optuna study, now 8 trials
    assert again["sweep"] == first["sweep"]
    assert sorted(t["number"] for t in again["trials"]) == list(range(8))
    study = optuna.load_study(study_name=first["sweep"],
                              storage=f"sqlite:///{tiny / '.cellpipe' / 'optuna.db'}")
    assert len(study.trials) == 8
    store = db(tiny)
    try:
        assert len(sweep_trials(store, first["sweep"])) == 8
        assert find_sweep(store, "latest")["state"] == "succeeded"
    finally:
        store.close()
    best = again["best"]
    assert best["values"][0] == max(t["values"][0] for t in again["trials"])


def test_a_multi_objective_search_returns_a_non_dominated_set(tiny: Path, capsys) -> None:
    code, result = sweep(capsys, "tiny.ipynb", "-p", "x=0,1,2,3,4,5", "--optimize", "near_one:max",
                         "--optimize", "near_four:max", "--trials", "8", "--seed", "0")
    assert code == 0, result
    objectives = [Objective("near_one", "maximize"), Objective("near_four", "maximize")]
    trials = {t["number"]: t for t in result["trials"]}
    front = [trials[n] for n in result["pareto"]]
    assert front
    for t in front:  # nothing dominates a member of the front
        assert not any(dominates(o["values"], t["values"], objectives) for o in trials.values())
    for t in trials.values():  # every other trial is dominated by a member
        if t["number"] not in result["pareto"]:
            assert any(dominates(f["values"], t["values"], objectives) for f in front)
    assert {t["params"]["x"] for t in front} <= {1, 2, 3, 4}


def test_a_constraint_keeps_infeasible_trials_from_the_best(tiny: Path, capsys) -> None:
    code, result = sweep(capsys, "tiny.ipynb", "--optimize", "cost:max", "--where", "cost<3",
                         "--trials", "6", "--seed", "4")
    assert code == 0, result
    assert any(not t["feasible"] for t in result["trials"])  # the sampler tried x >= 3 too
    assert result["best"]["params"]["x"] < 3
    assert result["best"]["values"][0] == max(t["values"][0] for t in result["trials"] if t["feasible"])


def test_bad_spaces_and_metrics_are_usage_errors_naming_the_fix(tiny: Path, capsys) -> None:
    assert main(["sweep", "tiny.ipynb", "-p", "x=5..1"]) == 2
    assert "parameter 'x'" in capsys.readouterr().err
    assert main(["sweep", "tiny.ipynb", "-p", "xx=1,2"]) == 2
    assert "unknown parameter 'xx'" in capsys.readouterr().err
    assert main(["sweep", "tiny.ipynb", "--optimize", "scor:max"]) == 2
    err = capsys.readouterr().err
    assert "no step records a metric 'scor'" in err and "--optimize score" in err
    assert main(["sweep", "tiny.ipynb", "--where", "cost=3"]) == 2
    assert "METRIC<VALUE" in capsys.readouterr().err
    assert main(["sweep", "tiny.ipynb", "-p", "y=0.1..1"]) == 2  # a float range has no grid
    assert "--random N" in capsys.readouterr().err
    assert main(["sweep", "tiny.ipynb", "--resume", "--trials", "2"]) == 2
    assert "no sweep of tiny.ipynb to resume" in capsys.readouterr().err
    assert main(["sweep", "tiny.ipynb", "--trials", "3"]) == 2
    assert "--trials needs an objective" in capsys.readouterr().err
    assert not (tiny / ".cellpipe" / "runs").exists() or not any((tiny / ".cellpipe" / "runs").iterdir())


def test_a_failing_trial_fails_the_sweep_but_not_the_other_trials_and_resume_runs_only_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    cells = [TINY[0], ("import os\nassert not os.path.exists(f'broken{x}'), 'broken'\n" + TINY[1][0],
                       ("step:score",)), TINY[2]]
    write_notebook(tmp_path / "tiny.ipynb", cells)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken2").write_text("")
    code, result = sweep(capsys, "tiny.ipynb", "-p", "x=1..3", "--optimize", "score:max")
    assert code == 1 and result["state"] == "failed"
    by_x = {t["params"]["x"]: t for t in result["trials"]}
    assert by_x[2]["state"] == "failed" and by_x[2]["values"] is None
    assert by_x[1]["state"] == by_x[3]["state"] == "succeeded"
    assert result["best"]["params"] == {"x": 3}

    # When: the cause is fixed and the sweep resumed, only the failed point runs again
    (tmp_path / "broken2").unlink()
    code, again = sweep(capsys, "tiny.ipynb", "--resume")
    assert code == 0 and again["sweep"] == result["sweep"]
    new = [t for t in again["trials"] if not t["earlier"]]
    assert [t["params"] for t in new] == [{"x": 2}]
    assert again["best"]["params"] == {"x": 3}
