"""cellpipe in pre-commit and CI: annotations GitHub shows, the documented workflow, the hook.

The workflow test runs the shell commands of the workflow in docs/ci.md as written, so the
documentation cannot drift from what works. The pre-commit test installs the hook the way a
user's pre-commit does (``pip install`` of this repository into a fresh virtualenv), which takes
minutes: it runs with ``CELLPIPE_SLOW_TESTS=1`` (the full profile).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from cellpipe.cli import main
from cellpipe.engine.annotations import cell_lines, github_annotations
from cellpipe.model import Diagnostic
from conftest import write_notebook

REPO = Path(__file__).resolve().parent.parent
BAD = [("x = 1", ["step:prep"]), ("y = x", ["setp:train"])]


# -- where an annotation points --------------------------------------------------------


@pytest.mark.parametrize("indent", [1, 2, None])
def test_each_cell_line_is_the_line_of_its_opening_brace(tmp_path, indent):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\ntext"), nbformat.v4.new_code_cell("a = 1\nb = {'}': '['}"),
                nbformat.v4.new_code_cell('s = "\\"cells\\": ["')]
    text = json.dumps(nb, indent=indent) if indent else json.dumps(nb)
    lines = text.splitlines()
    found = cell_lines(text)
    assert len(found) == 3
    for line, cell in zip(found, nb.cells, strict=True):
        # the cell's line holds its opening brace, and its source follows before the next cell
        assert lines[line - 1].strip().startswith("{")
        rest = "\n".join(lines[line - 1:])
        assert json.dumps(cell.source)[1:12] in rest


def test_text_that_is_not_a_notebook_has_no_cell_lines():
    assert cell_lines("# %% tags=['step:a']\nx = 1\n") == []
    assert cell_lines('{"cells": [') == []


def test_annotations_escape_what_github_would_read_as_syntax(tmp_path):
    diag = Diagnostic("warning", "CP9", "50% done,\nnext: line", notebook="a, b.ipynb", fix="do x: y")
    (annotation,) = github_annotations([diag], tmp_path, cwd=tmp_path)
    assert annotation == "::warning file=a%2C b.ipynb,line=1,title=CP9::50%25 done,%0Anext: line. Fix: do x: y"


def test_a_pipeline_problem_names_no_file(tmp_path):
    (annotation,) = github_annotations([Diagnostic("error", "CP301", "a cycle")], tmp_path, cwd=tmp_path)
    assert annotation == "::error title=CP301::a cycle."


# -- the command ------------------------------------------------------------------------


def test_validate_format_github_points_at_the_cell_in_the_file(tmp_path, monkeypatch, capsys):
    nb = write_notebook(tmp_path / "nbs" / "train.ipynb", BAD)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--format", "github", "nbs/train.ipynb"]) == 2
    out = capsys.readouterr().out.splitlines()
    line = [n for n, text in enumerate(nb.read_text().splitlines(), 1) if text.strip() == "{"][2]  # 2nd cell
    assert out[0] == (f"::error file=nbs/train.ipynb,line={line},title=CP101::unknown tag 'setp:train' (cell 2). "
                      "Fix: did you mean 'step:train'?")
    assert out[1] == "1 error, 0 warnings in 1 notebook"


def test_validate_format_json_is_a_list_of_the_problems(tmp_path, capsys):
    nb = write_notebook(tmp_path / "train.ipynb", BAD)
    assert main(["validate", "--format", "json", str(nb)]) == 2
    (diag,) = json.loads(capsys.readouterr().out)
    assert {k: diag[k] for k in ("notebook", "cell", "code", "severity", "message", "fix")} == {
        "notebook": "train.ipynb", "cell": 1, "code": "CP101", "severity": "error",
        "message": "unknown tag 'setp:train'", "fix": "did you mean 'step:train'?"}


def test_a_clean_notebook_gives_no_annotation_and_exit_0(tmp_path, capsys):
    nb = write_notebook(tmp_path / "ok.ipynb", [("x = 1", ["step:prep"])])
    assert main(["validate", "--format", "github", str(nb)]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("::")]


# -- the documented GitHub Actions workflow ------------------------------------------------


def workflow() -> dict:
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    (found,) = [b for b in blocks if isinstance(b, dict) and "jobs" in b]
    return found


def test_the_workflow_validates_runs_caches_the_store_and_uploads_the_report():
    steps = workflow()["jobs"]["pipeline"]["steps"]
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert uses["actions/cache"]["with"]["path"] == ".cellpipe"
    assert uses["actions/upload-artifact"]["with"]["path"] == "cellpipe-report.html"
    runs = [s["run"] for s in steps if "run" in s]
    assert any(r.startswith("cellpipe validate --format github") for r in runs)
    assert any(r.startswith("cellpipe run") for r in runs)
    assert any(r.startswith("cellpipe report") for r in runs)


def _shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-e", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.kernel
def test_the_workflow_commands_work_on_a_checkout_of_the_example(tmp_path):
    # Given a checkout: the example notebooks in a git repository
    shutil.copytree(REPO / "example_notebooks", tmp_path / "example_notebooks")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    commands = [s["run"] for s in workflow()["jobs"]["pipeline"]["steps"]
                if "run" in s and not s["run"].startswith("pip install")]
    # When the workflow's commands run in order
    outputs = []
    for command in commands:
        done = _shell(command, tmp_path)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    # Then validate found nothing to annotate, the store the cache saves is at the root, the report exists
    assert not [line for line in outputs[0].splitlines() if line.startswith("::error")]
    assert (tmp_path / ".cellpipe" / "cellpipe.db").is_file()
    assert (tmp_path / "cellpipe-report.html").stat().st_size > 10_000
    # and with the store restored, the next CI run runs nothing again
    run = next(c for c in commands if c.startswith("cellpipe run"))
    again = _shell(run + " --json", tmp_path)
    states = {s["state"] for s in json.loads(again.stdout)["steps"]}
    assert states == {"cached"}, again.stdout


# -- the pre-commit hook ------------------------------------------------------------------


def test_the_hook_is_declared_as_pre_commit_expects():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "cellpipe-validate"
    assert hook["entry"] == "cellpipe validate"
    assert hook["language"] == "python"
    assert re.search(hook["files"], "a/b.ipynb") and not re.search(hook["files"], "a/b.py")


@pytest.mark.skipif(os.environ.get("CELLPIPE_SLOW_TESTS") != "1",
                    reason="installs cellpipe into a fresh virtualenv (minutes): CELLPIPE_SLOW_TESTS=1")
@pytest.mark.skipif(shutil.which("pre-commit") is None and not (Path(sys.executable).parent / "pre-commit").exists(),
                    reason="pre-commit is not installed (pip install -e '.[test]')")
def test_the_hook_runs_through_pre_commit_try_repo(tmp_path):
    # Given a user's repository with a notebook that has a misspelled tag, staged
    user = tmp_path / "user"
    write_notebook(user / "train.ipynb", BAD)
    write_notebook(user / "ok.ipynb", [("x = 1", ["step:prep"])])
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "CELLPIPE_SKIP_LABEXTENSION": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)  # the hook runs the cellpipe pre-commit installed, not this one
    for args in (["init", "-q"], ["add", "."]):
        subprocess.run(["git", *args], cwd=user, check=True, env=env)
    # When pre-commit tries this repository's hook on it
    done = subprocess.run(["pre-commit", "try-repo", str(REPO), "cellpipe-validate", "--all-files"], cwd=user,
                          env=env, capture_output=True, text=True, timeout=1200)
    # Then the hook fails and says where and how to fix it
    assert done.returncode == 1, done.stdout + done.stderr
    assert "train.ipynb: cell 2: error CP101: unknown tag 'setp:train'" in done.stdout
    assert "did you mean 'step:train'?" in done.stdout
