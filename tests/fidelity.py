"""The fidelity oracle for small notebooks: Run All of the untagged notebook
(what a user gets in Jupyter) against ``cellpipe run`` of the tagged one, cell
by cell, text outputs only. ``cellpipe run`` is started as a user starts it, in
a process of its own, with fork kernels or with ordinary ones (``CELLPIPE_FORK=0``)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent


def _text(outputs: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream" and out.get("name") == "stdout":
            parts.append(out.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            parts.append(out.get("data", {}).get("text/plain", ""))
        elif kind == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(parts)


#: cells that are not steps' own: they run in every step (or are replaced by papermill)
SHARED_TAGS = {"imports", "functions", "parameters", "skip"}


def run_all(notebook: Path) -> dict[int, str]:
    """Each step cell's text output when the notebook, tags removed, runs top to bottom."""
    nb = nbformat.read(notebook, as_version=4)
    plain = copy.deepcopy(nb)
    for cell in plain.cells:
        cell.metadata.pop("tags", None)
    NotebookClient(plain, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    return {i: _text(c.get("outputs", [])) for i, c in enumerate(plain.cells)
            if c.cell_type == "code" and not SHARED_TAGS & set(nb.cells[i].metadata.get("tags", []))}


def cellpipe(*args: str, cwd: Path, fork: bool) -> subprocess.CompletedProcess:
    """``cellpipe ARGS`` in ``cwd``, as a user runs it."""
    env = {**os.environ, "CELLPIPE_FORK": "1" if fork else "0",
           "PYTHONPATH": os.pathsep.join([str(REPO / "python_pkg"), os.environ.get("PYTHONPATH", "")])}
    env.pop("CELLPIPE_STORE", None)
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def run_split(notebook: Path, fork: bool, *extra: str) -> tuple[dict[str, Any], dict[int, str]]:
    """``cellpipe run --json`` of the tagged notebook: the summary, and each source cell's text output."""
    done = cellpipe("run", notebook.name, "--json", "-j", "2", *extra, cwd=notebook.parent, fork=fork)
    assert done.stdout.strip().startswith("{"), done.stdout + done.stderr
    summary = json.loads(done.stdout)
    texts: dict[int, str] = {}
    for step in summary["steps"]:
        if not step.get("output_notebook") or not Path(step["output_notebook"]).exists():
            continue
        out = nbformat.read(step["output_notebook"], as_version=4)
        for cell in out.cells:
            meta = cell.metadata.get("cellpipe", {})
            if meta.get("role") == "step" and cell.cell_type == "code":
                texts[meta["source"]["index"]] = _text(cell.get("outputs", []))
    return summary, texts


def assert_same_as_run_all(notebook: Path, fork: bool) -> dict[str, Any]:
    """``cellpipe run`` succeeds and prints, cell by cell, what Run All prints."""
    expected = run_all(notebook)
    summary, texts = run_split(notebook, fork)
    assert summary["exit_code"] == 0, json.dumps(summary, indent=1)
    for index, text in expected.items():
        assert texts.get(index) == text, f"cell {index + 1}: Run All printed {text!r}, cellpipe {texts.get(index)!r}"
    return summary
