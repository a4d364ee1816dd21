"""The per-step timing breakdown: recorded for every executed step, shown by
`cellpipe show RUN --timings` and `--json`, and readable from an older store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cellpipe.cli import main
from cellpipe.engine.store import Store
from cellpipe.engine.timings import COLUMNS, PHASES
from conftest import write_notebook

CELLS = [
    ("import time", ("imports",)),
    ("values = list(range(1000))", ("step:make",)),
    ("time.sleep(0.4)\ntotal = sum(values)", ("step:slow",)),
    ("doubled = [v * 2 for v in values]", ("step:double",)),
    ("raise ValueError('bad row')", ("step:broken",)),
]


def _json(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.kernel
def test_every_executed_step_has_a_breakdown_within_its_wall_time(tmp_path: Path, monkeypatch, capsys) -> None:
    # Given a pipeline with a slow step and a failing one, run fresh
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    monkeypatch.chdir(tmp_path)
    code, summary = _json(capsys, "run", "flow.ipynb", "--json", "-j", "2")
    assert code == 1
    run_id = summary["run"]

    # When the run is shown as JSON
    code, shown = _json(capsys, "show", run_id, "--json")
    assert code == 0
    steps = {s["step"]: s for s in shown["steps"]}

    # Then every executed step (the failed one too) has every figure, in seconds
    for name in ("make", "slow", "double", "broken"):
        timings = steps[name]["timings"]
        assert set(timings) == set(COLUMNS), name
        assert all(isinstance(timings[c], float) and timings[c] >= 0 for c in COLUMNS), timings
        # the phases and the rest make up the step's wall time, which is its recorded time
        assert sum(timings[p] for p in PHASES) <= timings["wall"] + 1e-3
        assert abs(sum(timings[p] for p in (*PHASES, "other")) - timings["wall"]) < 2e-3
        recorded = steps[name]["finished"] - steps[name]["started"]
        assert abs(timings["wall"] - recorded) < 2e-3
    # the sleep is the slow step's code, not another phase's
    assert 0.4 <= steps["slow"]["timings"]["code"] < steps["slow"]["timings"]["wall"]
    assert steps["make"]["timings"]["code"] < 0.4
    # loading a variable and saving one are timed where they happen
    assert steps["slow"]["timings"]["load"] > 0 and steps["make"]["timings"]["save"] > 0
    # the totals add the executed steps up
    totals = shown["timings"]
    assert totals["executed"] == 4 and totals["cached"] == 0
    assert totals["wall"] == pytest.approx(sum(s["timings"]["wall"] for s in shown["steps"]), abs=1e-3)
    # `run --json` reports the same breakdown as the store
    ran = {s["step"]: s for s in summary["steps"]}
    assert ran["slow"]["timings"] == steps["slow"]["timings"]

    # When it runs again (the broken step fails again), the reused steps are marked cached
    code, again = _json(capsys, "run", "flow.ipynb", "--json", "-j", "2")
    code, shown = _json(capsys, "show", again["run"], "--json")
    steps = {s["step"]: s for s in shown["steps"]}
    assert steps["make"]["timings"] == {"cached": True}
    assert set(steps["broken"]["timings"]) == set(COLUMNS)
    assert shown["timings"]["executed"] == 1 and shown["timings"]["cached"] == 3

    # and the table shows them, with the totals
    capsys.readouterr()
    assert main(["show", again["run"], "--timings"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "kernel" in line)
    assert header.split() == ["step", "state", *COLUMNS]
    make = next(line for line in out.splitlines() if line.split()[:1] == ["make"])
    assert make.split() == ["make", "cached", "cached"]
    total = next(line for line in out.splitlines() if line.split()[:1] == ["total"])
    assert "1 ran, 3 cached" in total


def _schema_6_store(folder: Path) -> None:
    """A store as cellpipe with schema 6 left it: a run with a step, no timings column."""
    store = Store(folder)
    try:
        store.db.create_run({"id": "r1", "pipeline": "p", "root": str(folder), "notebooks": ["a.ipynb"],
                             "started": 1.0, "state": "succeeded", "params": {}, "argv": [], "env": {}})
        store.db.record_step("r1", {"step": "load", "notebook": "a.ipynb", "state": "done", "started": 1.0,
                                    "finished": 2.5})
        store.db.finish_run("r1", "succeeded")
    finally:
        store.close()
    conn = sqlite3.connect(folder / "cellpipe.db")
    conn.execute("ALTER TABLE step_runs DROP COLUMN timings")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()


def test_a_store_of_schema_6_reads_and_gains_the_timings_column(tmp_path: Path, capsys) -> None:
    # Given a store written before steps were timed
    _schema_6_store(tmp_path / "s")
    before = (tmp_path / "s" / "cellpipe.db").read_bytes()
    # When it is shown (read-only), the steps have no breakdown and nothing fails
    code, shown = _json(capsys, "show", "r1", "--json", "--store", str(tmp_path / "s"))
    assert code == 0
    assert shown["steps"][0]["timings"] is None
    assert shown["timings"]["executed"] == 0 and shown["timings"]["wall"] == 0
    assert main(["show", "r1", "--timings", "--store", str(tmp_path / "s")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["load", "done"] in rows  # listed, with no figures
    assert (tmp_path / "s" / "cellpipe.db").read_bytes() == before  # reading did not migrate it
    # When cellpipe opens it to write, a step's breakdown is recorded and read back
    store = Store(tmp_path / "s")
    try:
        timings = {c: 0.1 for c in COLUMNS}
        store.db.record_step("r1", {"step": "clean", "notebook": "a.ipynb", "state": "done",
                                    "timings": timings})
        rows = {r["step"]: r for r in store.db.step_runs("r1")}
        assert rows["clean"]["timings"] == timings and rows["load"]["timings"] is None
    finally:
        store.close()
