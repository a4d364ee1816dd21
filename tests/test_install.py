"""A light, honest install: the wheel needs no JupyterLab, and a clone without Node says so in one line.

Each test copies the repository's tracked files (what a clone has: no prebuilt lab extension)
into ``tmp_path`` and builds the wheel there (``pip wheel --no-build-isolation``, a few seconds),
as ``pip install .`` from a clone does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from conftest import write_notebook

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("hatchling", reason="the wheel is built with hatchling (pip install -e '.[test]')")
pytest.importorskip("hatch_jupyter_builder", reason="the build hook needs hatch-jupyter-builder")


def clone(tmp_path: Path) -> Path:
    """The repository's tracked files, as in a fresh clone (the working tree's content)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    target = tmp_path / "clone"
    for name in files.decode().split("\0"):
        if name and (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def build_wheel(out: Path, **env: str) -> subprocess.CompletedProcess:
    source = clone(out.parent)
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           str(source), "-w", str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, cwd=source)


def test_the_wheel_requires_jupyter_server_but_not_jupyterlab(tmp_path):
    done = build_wheel(tmp_path / "dist", CELLPIPE_SKIP_LABEXTENSION="1")
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("cellpipe-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(zf.read(name).decode())
    runtime = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    names = {r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for r in runtime}
    assert "jupyter-server" in {n.replace("_", "-") for n in names}
    assert not {n for n in names if n.replace("_", "-").startswith("jupyterlab")}, runtime
    assert "notebook" not in names


def test_a_build_from_a_clone_without_node_fails_with_one_line_naming_node_20(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with this Python but no node
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    assert shutil.which("node", path=str(bin_dir)) is None
    done = build_wheel(tmp_path / "dist", PATH=str(bin_dir))
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "Node.js 20" in line]
    assert lines and lines[0].strip().startswith("cellpipe: building the JupyterLab extension from a clone needs "
                                                 "Node.js 20; install Node.js 20 or newer"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(os.environ.get("CELLPIPE_SLOW_TESTS") != "1",
                    reason="installs the wheel and its dependencies into a fresh virtualenv (minutes): "
                    "CELLPIPE_SLOW_TESTS=1")
def test_the_wheel_in_a_fresh_venv_without_jupyterlab_runs_a_pipeline(tmp_path):
    # Given the wheel installed alone into a fresh virtualenv
    assert build_wheel(tmp_path / "dist", CELLPIPE_SKIP_LABEXTENSION="1").returncode == 0
    (wheel,) = (tmp_path / "dist").glob("cellpipe-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    python = tmp_path / "venv" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                          timeout=1800, env=env)
    assert done.returncode == 0, done.stderr
    # Then JupyterLab is not there, and `cellpipe run` runs a pipeline with a real kernel
    assert subprocess.run([str(python), "-c", "import jupyterlab"], capture_output=True, env=env).returncode != 0
    write_notebook(tmp_path / "p" / "a.ipynb", [("x = 2", ["step:make"]), ("print(x * 21)", ["step:show"])])
    (tmp_path / "p" / ".git").mkdir()
    run = subprocess.run([str(tmp_path / "venv" / "bin" / "cellpipe"), "run", "--json", "a.ipynb"],
                         cwd=tmp_path / "p", capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [s["state"] for s in json.loads(run.stdout)["steps"]] == ["done", "done"]
