"""Files a step reads or writes without `in:`/`out:` (Kale and papermill notebooks
never declare them) are tracked at run time: a change to one makes the step
stale, with the reason in `cellpipe status`; files written are restored on a
cache hit and known to `cellpipe trace`; `validate` hints at literal paths.

Every run goes through the CLI in a process of its own (so that ``CELLPIPE_FORK``
applies); the staleness test runs with fork kernels and with ordinary kernels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import compile_cells, write_notebook

REPO = Path(__file__).resolve().parent.parent
READ_AT_RUN_TIME = "(read at run time, not declared)"


def cellpipe(*args: str, cwd: Path, fork: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, in ``cwd``."""
    environ = {**os.environ, "CELLPIPE_FORK": "1" if fork else "0", **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "python_pkg"), environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=600)


def run_json(*args: str, cwd: Path, fork: bool = True) -> dict:
    proc = cellpipe("run", *args, "--json", "-j", "2", cwd=cwd, fork=fork)
    assert proc.stdout.strip().startswith("{"), proc.stderr
    return json.loads(proc.stdout)


def states(summary: dict) -> dict[str, str]:
    return {s["step"]: s["state"] for s in summary["steps"]}


def status(*args: str, cwd: Path) -> dict[str, dict]:
    proc = cellpipe("status", *args, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return {r["step"]: r for r in json.loads(proc.stdout)}


# -- a file read with pandas, never declared ------------------------------------

KALE_STYLE = [
    ("import pandas as pd", ("imports",)),
    ("df = pd.read_csv('../data/train.csv')\nprint(len(df))", ("block:load",)),
    ("total = int(df.x.sum())\nprint(total)", ("block:fit", "prev:load")),
]


@pytest.fixture(params=[True, False], ids=["fork", "plain"])
def fork(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.mark.kernel
def test_a_file_read_without_in_makes_the_step_stale_and_the_run_reruns_it(tmp_path: Path, fork: bool) -> None:
    # Given a Kale-style notebook whose first step reads data/train.csv, declared nowhere
    project = tmp_path / "p"  # short: the fork server's socket lives in the store folder
    (project / ".git").mkdir(parents=True)
    (project / "data").mkdir()
    original = "x\n1\n2\n3\n"
    (project / "data" / "train.csv").write_text(original)
    write_notebook(project / "nb" / "flow.ipynb", KALE_STYLE)
    first = run_json("nb/flow.ipynb", cwd=project, fork=fork)
    assert states(first) == {"load": "done", "fit": "done"}, first
    assert states(run_json("nb/flow.ipynb", cwd=project, fork=fork)) == {"load": "cached", "fit": "cached"}

    # When the file is truncated
    (project / "data" / "train.csv").write_text("x\n1\n")

    # Then status says which file changed, and why it counts
    report = status("nb/flow.ipynb", cwd=project)
    assert not report["load"]["up_to_date"]
    assert report["load"]["reason"] == f"file data/train.csv changed {READ_AT_RUN_TIME}"
    assert report["fit"]["reason"] == "upstream step load is stale"
    text = cellpipe("status", "nb/flow.ipynb", cwd=project).stdout
    assert f"load  stale       file data/train.csv changed {READ_AT_RUN_TIME}" in text

    # ... and the run reruns the step, with that reason, and its consumer
    second = run_json("nb/flow.ipynb", cwd=project, fork=fork)
    assert states(second) == {"load": "done", "fit": "done"}, second
    load = next(s for s in second["steps"] if s["step"] == "load")
    assert load["reason"] == f"file data/train.csv changed {READ_AT_RUN_TIME}"
    assert states(run_json("nb/flow.ipynb", cwd=project, fork=fork)) == {"load": "cached", "fit": "cached"}

    # When the file gets its first content back, the first run's results are current again
    (project / "data" / "train.csv").write_text(original)
    assert all(r["up_to_date"] for r in status("nb/flow.ipynb", cwd=project).values())

    # When the file is deleted, the step is stale because it is missing
    (project / "data" / "train.csv").unlink()
    assert status("nb/flow.ipynb", cwd=project)["load"]["reason"] == \
        f"file data/train.csv is missing {READ_AT_RUN_TIME}"


# -- every reader and writer a data scientist uses -------------------------------

READERS = {  # the file -> the line of the step that reads it
    "data/table.csv": "a = pd.read_csv('data/table.csv')",
    "data/table.parquet": "b = pd.read_parquet('data/table.parquet')",
    "data/array.npy": "c = np.load('data/array.npy')",
    "data/arrow.parquet": "d = pq.read_table('data/arrow.parquet').to_pandas()",
    "data/arrow.csv": "e = pacsv.read_csv('data/arrow.csv').to_pandas()",
    "data/model.joblib": "f = joblib.load('data/model.joblib')",
    "data/notes.txt": "g = open('data/notes.txt').read()",
}
WRITERS = {
    "out/w.csv": "a.to_csv('out/w.csv', index=False)",
    "out/w.parquet": "a.to_parquet('out/w.parquet')",
    "out/w.npy": "np.save('out/w.npy', c)",
    "out/w_arrow.parquet": "pq.write_table(pa.table({'x': [1, 2]}), 'out/w_arrow.parquet')",
    "out/w.joblib": "joblib.dump(f, 'out/w.joblib')",
    "out/w.txt": "open('out/w.txt', 'w').write(g)",
}


def _library_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "out").mkdir()
    frame = pd.DataFrame({"x": [1, 2, 3]})
    frame.to_csv(root / "data/table.csv", index=False)
    frame.to_parquet(root / "data/table.parquet")
    np.save(root / "data/array.npy", np.arange(4))
    frame.to_parquet(root / "data/arrow.parquet")
    frame.to_csv(root / "data/arrow.csv", index=False)
    import joblib

    joblib.dump({"k": 1}, root / "data/model.joblib")
    (root / "data/notes.txt").write_text("notes\n")
    (root / "outside.csv").write_text("x\n1\n")  # stays outside the project below
    project = root / "p"
    for rel in READERS:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes((root / rel).read_bytes())
    (project / "out").mkdir()
    imports = ("import pandas as pd\nimport numpy as np\nimport joblib, sysconfig\nimport pyarrow as pa\n"
               "import pyarrow.parquet as pq\nimport pyarrow.csv as pacsv")
    reads = "\n".join(READERS.values())
    # the interpreter's own files never count; a file outside the project counts
    # when the step names it, here by an absolute path in a parameter
    reads += "\nsource = open(sysconfig.__file__).read()\nh = pd.read_csv(outside)"
    write_notebook(project / "papermill_style.ipynb", [
        (f"outside = {str(root / 'outside.csv')!r}", ("parameters",)),
        imports + "\n" + reads + "\n" + "\n".join(WRITERS.values()),
    ])
    return project


@pytest.mark.kernel
def test_pandas_numpy_pyarrow_joblib_and_open_are_tracked(tmp_path: Path) -> None:
    # Given a papermill notebook (no step tags: one step) reading and writing with each library
    project = _library_project(tmp_path)
    (project / "pyproject.toml").write_text("[tool.cellpipe]\n")
    nb = "papermill_style.ipynb"
    summary = run_json(nb, cwd=project)
    assert states(summary) == {"papermill_style": "done"}, summary

    # Then exactly the files it read are part of its key: none of the interpreter's
    show = json.loads(cellpipe("show", summary["run"], "--json", cwd=project).stdout)
    read = show["steps"][0]["parts"]["read"]
    assert set(read) == set(READERS) | {str(tmp_path / "outside.csv")}
    # ... and the files it wrote are recorded with the run
    written = {a["name"] for a in show["artifacts"] if a["kind"] == "file"}
    assert written == set(WRITERS)

    # When any one file it read changes, the step is stale and the reason names that file
    for rel in [*READERS, str(tmp_path / "outside.csv")]:
        path = Path(rel) if rel.startswith("/") else project / rel
        before = path.read_bytes()
        path.write_bytes(before + b"\n")
        try:
            report = status(nb, cwd=project)["papermill_style"]
            assert report["reason"] == f"file {rel} changed {READ_AT_RUN_TIME}", rel
        finally:
            path.write_bytes(before)
    assert status(nb, cwd=project)["papermill_style"]["up_to_date"]

    # When the files it wrote are deleted, a cached run restores them, byte for byte
    saved = {rel: (project / rel).read_bytes() for rel in WRITERS}
    for rel in WRITERS:
        (project / rel).unlink()
    assert states(run_json(nb, cwd=project)) == {"papermill_style": "cached"}
    assert {rel: (project / rel).read_bytes() for rel in WRITERS} == saved

    # ... and trace knows which run and step wrote each of them
    trace = cellpipe("trace", "out/w.csv", cwd=project)
    assert trace.returncode == 0, trace.stderr
    assert f"run {summary['run']}, step papermill_style" in trace.stdout


# -- validate's hint ------------------------------------------------------------


def test_validate_hints_at_literal_paths_that_no_tag_declares() -> None:
    result = compile_cells(("nb/flow.ipynb", [
        ("import pandas as pd\nimport yaml", ("imports",)),
        ("df = pd.read_csv('../data/train.csv')\ncfg = yaml.load('a: 1')", ("step:load",)),
        ("df.to_csv('clean.csv')", ("step:clean",)),
        ("other = pd.read_csv('../data/test.csv')", ("step:test", "in:../data/test.csv")),
        ("df.to_parquet('out/x.parquet')", ("step:save", "out:out/")),
    ]), exists=lambda path: path == "data/test.csv")
    assert not result.errors
    hints = [d for d in result.warnings if d.code == "CP250"]
    assert [(d.cell, d.line) for d in hints] == [(1, 1), (2, 1)]
    read, write = hints
    assert "step 'load' reads '../data/train.csv' (pd.read_csv, line 1) without an `in:` tag" in read.message
    assert read.fix.startswith("tag the cell `in:../data/train.csv`")
    assert "step 'clean' writes 'clean.csv' (df.to_csv, line 1) without an `out:` tag" in write.message
    assert write.fix.startswith("tag the cell `out:clean.csv`")
