"""Project config: ``[tool.cellpipe]`` in pyproject.toml (or cellpipe.toml) names the pipeline's
notebooks and the run's defaults, so ``cellpipe run`` needs no arguments; ``cellpipe init`` writes it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from cellpipe.cli import main
from conftest import write_notebook

STEP = [("x = 1\nwait = 0", ["parameters"]),
        ("import time\ntime.sleep(wait)\nopen('result.txt', 'w').write(str(x))", ["step:write", "out:result.txt"])]


def cellpipe(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "python_pkg")}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def project(tmp_path: Path, settings: str, file: str = "pyproject.toml") -> Path:
    write_notebook(tmp_path / "nbs" / "pipe.ipynb", STEP)
    (tmp_path / file).write_text(settings, encoding="utf-8")
    return tmp_path


# -- a run with no arguments ----------------------------------------------------------------


@pytest.mark.kernel
def test_tool_cellpipe_drives_a_run_with_no_arguments(tmp_path):
    # Given a project whose settings name the notebooks (a glob), a parameters file and the jobs
    root = project(tmp_path, '[project]\nname = "p"\n\n[tool.cellpipe]\nnotebooks = ["nbs/*.ipynb"]\n'
                             'params = ["params.yaml"]\njobs = 1\n')
    (root / "params.yaml").write_text("x: 5\n")
    # When `cellpipe run` runs with no arguments, from a subfolder
    done = cellpipe(root / "nbs", "run", "--json")
    # Then it ran the configured notebook with the configured parameters
    assert done.returncode == 0, done.stderr
    assert [s["state"] for s in json.loads(done.stdout)["steps"]] == ["done"]
    assert (root / "nbs" / "result.txt").read_text() == "5"
    # and again: nothing to do; the command line's -p wins over the settings' file
    again = cellpipe(root, "run", "--json")
    assert [s["state"] for s in json.loads(again.stdout)["steps"]] == ["cached"]
    assert cellpipe(root, "run", "-p", "x=7").returncode == 0
    assert (root / "nbs" / "result.txt").read_text() == "7"
    status = cellpipe(root, "status")
    assert status.returncode == 0 and status.stdout.split()[:2] == ["write", "up"], status.stdout


@pytest.mark.kernel
def test_timeout_step_of_the_settings_fails_a_step_that_runs_too_long(tmp_path):
    root = project(tmp_path, 'notebooks = ["nbs/pipe.ipynb"]\ntimeout-step = 1\n', file="cellpipe.toml")
    done = cellpipe(root, "run", "-p", "wait=60")
    assert done.returncode == 1, done.stdout + done.stderr
    assert not (root / "nbs" / "result.txt").exists()


# -- the settings file ------------------------------------------------------------------


def test_cellpipe_toml_lists_the_notebooks_for_validate(tmp_path, monkeypatch, capsys):
    root = project(tmp_path, 'notebooks = ["nbs/pipe.ipynb"]\n', file="cellpipe.toml")
    monkeypatch.chdir(root)
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.strip() == "0 errors, 0 warnings in 1 notebook, 1 steps"


def test_without_notebooks_the_error_names_the_fix(tmp_path, monkeypatch, capsys):
    project(tmp_path, '[project]\nname = "p"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "no NOTEBOOK given" in err and "lists no notebooks" in err
    assert "cellpipe init" in err


@pytest.mark.parametrize(("settings", "says"), [
    ('notebooks = "nbs/*.ipynb"\njobs = "four"\n', "jobs in"),
    ('notebooks = ["nbs/missing.ipynb"]\n', "'nbs/missing.ipynb' is not a file"),
    ('notebooks = ["other/*.ipynb"]\n', "'other/*.ipynb' matches no file"),
    ("notebooks = [1]\n", "must be a list of paths"),
    ('notebooks = ["nbs/pipe.ipynb"]\nexecutor = 3\n', "(an executor's name: local or dask), not 3"),
    ('notebooks = ["nbs/pipe.ipynb"]\ntimeout-step = -3\n', "timeout-step in"),
])
def test_a_wrong_setting_is_a_usage_error_naming_the_key_and_the_file(tmp_path, monkeypatch, capsys,
                                                                        settings, says):
    project(tmp_path, settings, file="cellpipe.toml")
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert says in err and str(tmp_path / "cellpipe.toml") in err


# -- cellpipe init ------------------------------------------------------------------------


def _notebooks(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nbs" / "pipe.ipynb", STEP)
    write_notebook(tmp_path / "b.ipynb", [("y = 2", ["block:load"])])  # Kale's spelling
    write_notebook(tmp_path / "scratch.ipynb", [("z = 3", [])])  # no step: not part of a pipeline
    write_notebook(tmp_path / "nbs" / ".ipynb_checkpoints" / "pipe-checkpoint.ipynb", STEP)


def test_init_appends_the_section_and_keeps_the_rest_of_pyproject_byte_for_byte(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path)
    original = '[project]\r\nname = "café"  # a comment\r\n\r\n[tool.ruff]\r\nline-length = 99'.encode()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes(original)
    pyproject.chmod(0o664)
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert "2 notebooks" in capsys.readouterr().out
    data = pyproject.read_bytes()
    assert data.startswith(original + b"\r\n\r\n[tool.cellpipe]\r\n")
    assert stat.S_IMODE(pyproject.stat().st_mode) == 0o664
    table = tomllib.loads(data.decode())
    assert table["tool"]["cellpipe"] == {"notebooks": ["b.ipynb", "nbs/pipe.ipynb"]}
    assert table["tool"]["ruff"] == {"line-length": 99}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # the section it wrote drives validate with no arguments
    assert main(["validate"]) == 0


def test_init_never_overwrites_existing_settings(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path)
    original = b'[tool.cellpipe]\nnotebooks = ["b.ipynb"]\n'
    (tmp_path / "pyproject.toml").write_bytes(original)
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 2
    assert "already has cellpipe's settings; nothing was changed" in capsys.readouterr().err
    assert (tmp_path / "pyproject.toml").read_bytes() == original


def test_init_without_pyproject_writes_cellpipe_toml(tmp_path, monkeypatch):
    _notebooks(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert not (tmp_path / "pyproject.toml").exists()
    settings = tomllib.loads((tmp_path / "cellpipe.toml").read_text())
    assert settings == {"notebooks": ["b.ipynb", "nbs/pipe.ipynb"]}
    assert main(["init"]) == 2  # and not twice


def test_init_without_tagged_notebooks_writes_nothing(tmp_path, monkeypatch, capsys):
    write_notebook(tmp_path / "scratch.ipynb", [("z = 3", [])])
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 2
    assert "no notebook under" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scratch.ipynb"]
