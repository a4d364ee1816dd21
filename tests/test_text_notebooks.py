"""Text notebooks (jupytext): percent scripts and MyST/Markdown notebooks are
sources like ``.ipynb``; paired notebooks count once; ``compile --format py``
writes the steps as percent scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from cellpipe.engine.project import compile_paths
from conftest import build_notebook, write_notebook

CELLS = [
    ("# A pipeline", [], "markdown"),
    ("import json", ["imports"]),
    ("n = 3", ["parameters"]),
    ("data = list(range(n))", ["step:make"]),
    ("with open('total.json', 'w') as fh:\n    json.dump({'total': sum(data)}, fh)",
     ["step:report", "out:total.json"]),
]

MYST = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A pipeline

```{code-cell} ipython3
:tags: [parameters]
n = 3
```

```{code-cell} ipython3
:tags: [step:make]
data = list(range(n))
```

```{code-cell} ipython3
:tags: [step:report]
total = sum(data)
```
"""


def percent_twin(ipynb: Path, text_path: Path) -> Path:
    """The .ipynb written as a jupytext percent script, as `jupytext --to py:percent` does."""
    text_path.write_text(jupytext.writes(nbformat.read(str(ipynb), as_version=4), fmt="py:percent"))
    return text_path


def cellpipe(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=root, capture_output=True, text=True,
                          timeout=300, env=env)


def test_a_percent_script_compiles_to_the_pipeline_of_its_ipynb_twin(tmp_path):
    ipynb = write_notebook(tmp_path / "nb" / "flow.ipynb", CELLS)
    (tmp_path / "py").mkdir()
    script = percent_twin(ipynb, tmp_path / "py" / "flow.py")
    a, _ = compile_paths([ipynb])
    b, _ = compile_paths([script])
    assert a.ok and b.ok, [d.format() for d in (*a.diagnostics, *b.diagnostics)]
    assert [(s.name, s.code_hash, s.depends_on, s.parameters) for s in a.pipeline.steps] == \
           [(s.name, s.code_hash, s.depends_on, s.parameters) for s in b.pipeline.steps]
    assert b.pipeline.notebooks[0].path == "flow.py"
    # cell ids do not change from one read to the next: manifests diff cleanly
    again, _ = compile_paths([script])
    assert [c.id for c in again.pipeline.notebooks[0].cells] == [c.id for c in b.pipeline.notebooks[0].cells]


def test_a_myst_notebook_is_a_source(tmp_path):
    (tmp_path / "flow.md").write_text(MYST)
    result, _ = compile_paths([tmp_path / "flow.md"])
    assert result.ok, [d.format() for d in result.diagnostics]
    assert [s.name for s in result.pipeline.steps] == ["make", "report"]
    assert result.pipeline.step("report").depends_on == ("make",)
    assert [p.name for p in result.pipeline.notebooks[0].parameters] == ["n"]


def test_a_python_module_without_cell_markers_is_refused_with_the_fix(tmp_path):
    (tmp_path / "helpers.py").write_text("def f():\n    return 1\n")
    result, _ = compile_paths([tmp_path / "helpers.py"])
    assert not result.ok
    (diag,) = result.errors
    assert diag.notebook == "helpers.py" and "without `# %%` cell markers" in diag.message


def test_paired_notebooks_count_once_and_a_twin_out_of_sync_is_named(tmp_path):
    nb = build_notebook(CELLS, {"jupytext": {"formats": "ipynb,py:percent"}})
    nbformat.write(nb, str(tmp_path / "flow.ipynb"))
    percent_twin(tmp_path / "flow.ipynb", tmp_path / "flow.py")
    result, _ = compile_paths([tmp_path / "flow.py", tmp_path / "flow.ipynb"])
    assert result.ok and result.diagnostics == [], [d.format() for d in result.diagnostics]
    assert [n.path for n in result.pipeline.notebooks] == ["flow.ipynb"]
    assert [s.name for s in result.pipeline.steps] == ["make", "report"]
    # the twin edited without syncing: still counted once, and the difference is named
    (tmp_path / "flow.py").write_text((tmp_path / "flow.py").read_text().replace("n = 3", "n = 4"))
    result, _ = compile_paths([tmp_path / "flow.ipynb", tmp_path / "flow.py"])
    assert result.ok
    (diag,) = result.warnings
    assert diag.code == "CP106" and "jupytext --sync flow.ipynb" in diag.fix
    # unpaired files of the same name are two notebooks (and two steps of the same name clash)
    unpaired = tmp_path / "other"
    unpaired.mkdir()
    write_notebook(unpaired / "flow.ipynb", CELLS)
    percent_twin(unpaired / "flow.ipynb", unpaired / "flow.py")
    result, _ = compile_paths([unpaired / "flow.ipynb", unpaired / "flow.py"])
    assert not result.ok


def test_without_jupytext_a_text_notebook_says_how_to_install_it(tmp_path):
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    percent_twin(tmp_path / "flow.ipynb", tmp_path / "flow.py")
    # a Python where jupytext is not installed (an import of it fails)
    code = ("import sys; sys.modules['jupytext'] = None; from cellpipe.cli.main import main; "
            "sys.exit(main(['validate', 'flow.py']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "pip install 'cellpipe[jupytext]'" in proc.stdout + proc.stderr
    proc = subprocess.run([sys.executable, "-c", code.replace("flow.py", "flow.ipynb")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # .ipynb notebooks need no jupytext


def test_compile_format_py_writes_percent_scripts_jupytext_reads_back(tmp_path):
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    proc = cellpipe(tmp_path, "compile", "flow.ipynb", "-o", "build", "--format", "py")
    assert proc.returncode == 0, proc.stderr
    steps = tmp_path / "build" / "steps"
    assert sorted(p.name for p in steps.iterdir()) == ["make.py", "report.py"]
    manifest = json.loads((tmp_path / "build" / "pipeline.json").read_text())
    assert [s["notebook_file"] for s in manifest["steps"]] == ["steps/make.py", "steps/report.py"]
    assert cellpipe(tmp_path, "compile", "flow.ipynb", "-o", "ipynb").returncode == 0
    for name in ("make", "report"):
        text = jupytext.read(str(steps / f"{name}.py"))
        ipynb = nbformat.read(str(tmp_path / "ipynb" / "steps" / f"{name}.ipynb"), as_version=4)
        same_folder = [c.source.replace(str(tmp_path / "ipynb"), str(tmp_path / "build")) for c in ipynb.cells]
        assert [c.source for c in text.cells] == same_folder
        assert "parameters" in text.cells[1].metadata["tags"]  # papermill's parameters cell survives
    # a step that is gone loses its script; the user's own files stay
    (steps / "notes.py").write_text("# mine\n")
    write_notebook(tmp_path / "flow.ipynb", CELLS[:4])
    assert cellpipe(tmp_path, "compile", "flow.ipynb", "-o", "build", "--format", "py").returncode == 0
    assert sorted(p.name for p in steps.iterdir()) == ["make.py", "notes.py"]


@pytest.mark.kernel
def test_a_percent_script_runs_and_caches_like_its_ipynb_twin(tmp_path):
    ipynb_root, py_root = tmp_path / "ipynb", tmp_path / "py"
    write_notebook(ipynb_root / "flow.ipynb", CELLS)
    py_root.mkdir()
    percent_twin(ipynb_root / "flow.ipynb", py_root / "flow.py")
    for root, name in ((ipynb_root, "flow.ipynb"), (py_root, "flow.py")):
        first = json.loads(cellpipe(root, "run", name, "--json", "-p", "n=5").stdout)
        assert [s["state"] for s in first["steps"]] == ["done", "done"], first
        again = json.loads(cellpipe(root, "run", name, "--json", "-p", "n=5").stdout)
        assert [s["state"] for s in again["steps"]] == ["cached", "cached"]
        assert json.loads((root / "total.json").read_text()) == {"total": 10}
        status = cellpipe(root, "status", name, "-p", "n=5")
        assert status.returncode == 0 and "stale" not in status.stdout
    # an edit of the script's code makes its step stale, as an edit of the notebook would
    script = py_root / "flow.py"
    script.write_text(script.read_text().replace("data = list(range(n))", "data = list(range(n + 1))"))
    after = json.loads(cellpipe(py_root, "run", "flow.py", "--json", "-p", "n=5").stdout)
    assert [s["state"] for s in after["steps"]] == ["done", "done"]
    assert json.loads((py_root / "total.json").read_text()) == {"total": 15}
