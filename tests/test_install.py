"""A light, honest install: the wheel needs no JupyterLab, and a clone without Node says so in one line.

Each test builds the wheel from this repository's sources (``pip wheel --no-build-isolation``, a
few seconds) into ``tmp_path``, as ``pip install .`` does; hatchling writes nothing into the tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest.importorskip("hatchling", reason="the wheel is built with hatchling (pip install -e '.[test]')")
pytest.importorskip("hatch_jupyter_builder", reason="the build hook needs hatch-jupyter-builder")


def build_wheel(out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           str(REPO), "-w", str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, cwd=out.parent)


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


@pytest.mark.skipif((REPO / "python_pkg/cellpipe/labextension/static/style.js").exists(),
                    reason="the lab extension is prebuilt here: the build does not need Node")
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
