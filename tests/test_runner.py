"""`cellpipe run` end to end with real kernels: parallel steps, caching with
early cutoff, failures, selection, parameters, the store and its history."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from cellpipe.cli import main
from conftest import write_notebook

pytestmark = pytest.mark.kernel

# load -> clean -> (stats, scaled) ; scaled -> report ; stats -> report
CELLS = [
    ("# A small pipeline", (), "markdown"),
    ("import json\nimport os\nimport helpers", ("imports",)),
    ("factor = 2\nlabel: str = 'demo'", ("parameters",)),
    ("values = list(range(10))\nos.makedirs('out', exist_ok=True)", ("step:load",)),
    ("clean = [v for v in values if v % 2 == 0]", ("step:clean",)),
    ("total = sum(clean)\nmean = total / len(clean)", ("step:stats", "metrics")),
    ("scaled = [helpers.scale(v, factor) for v in clean]", ("step:scaled",)),
    (
        "report = {'label': label, 'total': total, 'scaled': scaled}\n"
        "with open('out/report.json', 'w') as fh:\n    json.dump(report, fh)",
        ("step:report", "out:out/report.json"),
    ),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "helpers.py").write_text("def scale(v, k):\n    return v * k\n")
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, capsys: pytest.CaptureFixture) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["run", "flow.ipynb", "--json", "-j", "2", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def states(summary: dict) -> dict[str, str]:
    return {s["step"]: s["state"] for s in summary["steps"]}


def edit_cell(path: Path, index: int, source: str) -> None:
    nb = json.loads(path.read_text())
    nb["cells"][index]["source"] = source
    path.write_text(json.dumps(nb))


def test_a_fresh_run_executes_every_step_and_a_rerun_is_all_cached(project: Path, capsys) -> None:
    code, summary = run(capsys=capsys)
    assert code == 0
    assert set(states(summary).values()) == {"done"}
    assert json.loads((project / "out" / "report.json").read_text())["total"] == 20
    stats = next(s for s in summary["steps"] if s["step"] == "stats")
    assert stats["metrics"] == {"total": 20, "mean": 4.0}
    for step in summary["steps"]:
        assert Path(step["output_notebook"]).is_file()

    code, again = run(capsys=capsys)
    assert code == 0
    assert set(states(again).values()) == {"cached"}


def test_the_line_output_says_each_state_of_a_step_once(project: Path, capsys) -> None:
    # Given output that is not a terminal (CI logs): one line per change of state
    assert main(["run", "flow.ipynb", "-j", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    running = [line for line in lines if ": running" in line]
    steps = [line.split(":")[0] for line in running]
    assert running and len(steps) == len(set(steps)), running


def test_editing_prose_reruns_nothing(project: Path, capsys) -> None:
    run(capsys=capsys)
    edit_cell(project / "flow.ipynb", 0, "# A small pipeline, now described better")
    _, summary = run(capsys=capsys)
    assert set(states(summary).values()) == {"cached"}


def test_changing_one_step_reruns_it_and_only_the_steps_whose_inputs_changed(project: Path, capsys) -> None:
    run(capsys=capsys)
    # Given a change to `stats` whose outputs stay the same (early cutoff)...
    edit_cell(project / "flow.ipynb", 5, "total = sum(clean)  # same value\nmean = total / len(clean)")
    # ...and a change to `scaled` whose output changes
    edit_cell(project / "flow.ipynb", 6, "scaled = [helpers.scale(v, factor) + 1 for v in clean]")
    main(["status", "flow.ipynb"])
    status_out = capsys.readouterr().out
    assert "stats   stale       code changed in cell 6" in status_out
    assert "scaled  stale       code changed in cell 7" in status_out
    assert "report  stale       upstream step stats is stale" in status_out

    _, summary = run(capsys=capsys)
    assert states(summary) == {
        "load": "cached", "clean": "cached", "stats": "done", "scaled": "done", "report": "done",
    }
    # When only `stats` changes again without changing its outputs, `report` stays cached
    edit_cell(project / "flow.ipynb", 5, "total = sum(clean)\nmean = total / len(clean)  # again")
    _, summary = run(capsys=capsys)
    assert states(summary)["stats"] == "done"
    assert states(summary)["report"] == "cached"


def test_a_parameter_change_reruns_only_the_steps_that_use_it(project: Path, capsys) -> None:
    run(capsys=capsys)
    main(["status", "flow.ipynb", "-p", "factor=3"])
    assert "scaled  stale       parameter factor changed (2 -> 3)" in capsys.readouterr().out
    code, summary = run("-p", "factor=3", capsys=capsys)
    assert code == 0
    assert states(summary) == {
        "load": "cached", "clean": "cached", "stats": "cached", "scaled": "done", "report": "done",
    }


def test_an_unknown_or_mistyped_parameter_is_a_usage_error(project: Path, capsys) -> None:
    assert main(["run", "flow.ipynb", "-p", "factr=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'factr'; known parameters: factor, label" in err
    assert main(["run", "flow.ipynb", "-p", "factor=abc"]) == 2
    assert "parameter 'factor' of flow.ipynb expects integer, got 'abc'" in capsys.readouterr().err


def test_parameters_from_a_file(project: Path, capsys) -> None:
    (project / "params.yaml").write_text("factor: 5\nlabel: from-file\n")
    code, _ = run("--params", "params.yaml", capsys=capsys)
    assert code == 0
    report = json.loads((project / "out" / "report.json").read_text())
    assert report["label"] == "from-file" and report["scaled"] == [0, 10, 20, 30, 40]


def test_a_failing_step_skips_its_downstream_lets_other_branches_finish_and_resumes(project: Path, capsys) -> None:
    edit_cell(project / "flow.ipynb", 6, "scaled = [helpers.scale(v, factor) for v in clean]\nraise ValueError('bad scale')")
    code, summary = run(capsys=capsys)
    assert code == 1
    assert states(summary) == {
        "load": "done", "clean": "done", "stats": "done", "scaled": "failed", "report": "skipped",
    }
    failed = next(s for s in summary["steps"] if s["step"] == "scaled")
    assert failed["error"]["cell"] == 7 and failed["error"]["notebook"] == "flow.ipynb"
    assert "ValueError: bad scale" in failed["error"]["message"]
    evidence = json.loads(Path(failed["output_notebook"]).read_text())
    assert any(o.get("ename") == "ValueError" for c in evidence["cells"] for o in c.get("outputs", []))

    # Fix the cell and run again: only the failed step and its downstream execute
    edit_cell(project / "flow.ipynb", 6, "scaled = [helpers.scale(v, factor) for v in clean]")
    code, summary = run(capsys=capsys)
    assert code == 0
    assert states(summary) == {
        "load": "cached", "clean": "cached", "stats": "cached", "scaled": "done", "report": "done",
    }


def test_the_text_output_names_the_source_cell_of_a_failure(project: Path, capsys) -> None:
    edit_cell(project / "flow.ipynb", 4, "clean = [v for v in values if v % 0 == 0]")
    assert main(["run", "flow.ipynb", "-j", "2"]) == 1
    out = capsys.readouterr().out
    assert "step clean failed in flow.ipynb cell 5: ZeroDivisionError: integer modulo by zero" in out
    assert "output notebook:" in out


def test_only_from_and_force_select_steps(project: Path, capsys) -> None:
    run(capsys=capsys)
    _, summary = run("--only", "stats", "--force", capsys=capsys)
    assert states(summary)["stats"] == "done"
    assert [s for s, st in states(summary).items() if st == "done"] == ["stats"]
    _, summary = run("--from", "scaled", "--force", capsys=capsys)
    assert {s for s, st in states(summary).items() if st == "done"} == {"scaled", "report"}
    assert main(["run", "flow.ipynb", "--only", "nope"]) == 2
    assert "unknown step 'nope'; the steps are: load, clean, stats, scaled, report" in capsys.readouterr().err


def test_nocache_steps_always_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", [("x = 1", ("step:a",)), ("y = x + 1", ("step:b", "nocache"))])
    monkeypatch.chdir(tmp_path)
    run(capsys=capsys)
    _, summary = run(capsys=capsys)
    assert states(summary) == {"a": "cached", "b": "done"}


def test_a_cached_step_restores_its_missing_or_changed_output_files(project: Path, capsys) -> None:
    run(capsys=capsys)
    report = project / "out" / "report.json"
    original = report.read_bytes()
    report.unlink()
    _, summary = run(capsys=capsys)
    assert states(summary)["report"] == "cached"
    assert report.read_bytes() == original
    # a copy the user changed is restored, and the changed copy is kept, not lost
    report.write_text('{"edited": "by hand"}')
    _, summary = run(capsys=capsys)
    assert report.read_bytes() == original
    warning = next(w for s in summary["steps"] for w in s["warnings"] if "out/report.json had changed" in w)
    kept = Path(warning.rsplit(" ", 1)[-1])
    assert kept.read_text() == '{"edited": "by hand"}'


def test_editing_a_local_module_makes_its_users_stale(project: Path, capsys) -> None:
    run(capsys=capsys)
    (project / "helpers.py").write_text("def scale(v, k):\n    return v * k * 10\n")
    main(["status", "flow.ipynb"])
    assert "module helpers.py changed" in capsys.readouterr().out
    _, summary = run(capsys=capsys)
    assert json.loads((project / "out" / "report.json").read_text())["scaled"][1] == 40
    assert states(summary)["scaled"] == "done"


def test_a_corrupted_object_is_detected_and_its_producer_reruns(project: Path, capsys) -> None:
    run(capsys=capsys)
    db = sqlite3.connect(project / ".cellpipe" / "cellpipe.db")
    digest = db.execute(
        "SELECT hash FROM artifacts WHERE step='clean' AND name='clean' LIMIT 1").fetchone()[0]
    db.close()
    obj = project / ".cellpipe" / "objects" / digest[:2] / digest[2:]
    os.chmod(obj, 0o644)
    data = bytearray(obj.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    obj.write_bytes(bytes(data))
    _, summary = run("--only", "scaled", "--force", capsys=capsys)
    assert states(summary)["clean"] == "done"  # run again to rebuild its output
    assert states(summary)["scaled"] == "done"
    assert summary["state"] == "succeeded"
    # and the store holds good bytes again: the next run uses the stored output
    _, summary = run("--only", "scaled", "--force", capsys=capsys)
    assert states(summary)["clean"] == "cached" and states(summary)["scaled"] == "done"


def test_runs_show_diff_and_trace(project: Path, capsys) -> None:
    _, first = run(capsys=capsys)
    _, second = run("-p", "factor=3", capsys=capsys)
    assert main(["runs"]) == 0
    table = capsys.readouterr().out
    assert first["run"][:8] in table and "factor=3" in table
    assert main(["show", second["run"]]) == 0
    shown = capsys.readouterr().out
    assert "scaled" in shown and "done" in shown and "factor=3" in shown and "total=20" in shown
    assert main(["diff", first["run"], second["run"]]) == 0
    diff = capsys.readouterr().out
    assert "flow.ipynb:factor: 2 -> 3" in diff
    assert "scaled:variable:scaled" in diff and "stats:variable" not in diff
    assert main(["trace", "out/report.json", "--json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["run"] == second["run"] and trace["step"] == "report"
    assert trace["parameters"] == {"label": "demo"}
    assert set(trace["input_variables"]) == {"scaled", "total"}
    assert "python" in trace["environment"]
    assert main(["show", "no-such-run"]) == 2
    capsys.readouterr()
    assert main(["show", "--json"]) == 0  # no RUN: the newest
    assert json.loads(capsys.readouterr().out)["run"]["id"] == second["run"]


def test_show_without_a_run_in_an_empty_store_says_what_to_do(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["show"]) == 2
    assert "run `cellpipe run NOTEBOOK` first" in capsys.readouterr().err


def test_bad_input_is_a_clear_usage_error(project: Path, capsys) -> None:
    assert main(["run", "missing.ipynb"]) == 2
    assert "missing.ipynb: error CP001: the notebook does not exist" in capsys.readouterr().err
    write_notebook(project / "needs.ipynb", [("open('data.csv').read()", ("step:a", "in:data.csv"))])
    assert main(["run", "needs.ipynb"]) == 2
    assert "input file 'data.csv' does not exist and no step writes it" in capsys.readouterr().err
    assert main(["run", "flow.ipynb", "-j", "0"]) == 2


def test_an_out_file_the_step_did_not_write_fails_the_step(tmp_path: Path, monkeypatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", [("x = 1", ("step:a", "out:result.csv"))])
    monkeypatch.chdir(tmp_path)
    code, summary = run(capsys=capsys)
    assert code == 1
    error = summary["steps"][0]["error"]["message"]
    assert "step 'a' declares `out:` result.csv but did not write it" in error


def test_the_same_step_code_in_another_pipeline_with_more_consumers_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # Given two pipelines sharing a store, whose first steps have identical code
    # but where only the second pipeline's `two` hands `y` on
    write_notebook(tmp_path / "short.ipynb", [("x = 1", ("step:one",)), ("y = x + 1", ("step:two",))])
    write_notebook(tmp_path / "long.ipynb", [("x = 1", ("step:one",)), ("y = x + 1", ("step:two",)),
                                             ("z = y + 1", ("step:three",))])
    monkeypatch.chdir(tmp_path)
    assert main(["run", "short.ipynb", "--json"]) == 0
    capsys.readouterr()
    # When the second runs, `one` is reused (same code, same outputs) but `two` is not
    assert main(["run", "long.ipynb", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert states(summary) == {"one": "cached", "two": "done", "three": "done"}
