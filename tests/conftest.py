"""Shared helpers: build tiny notebooks from (source, tags) pairs and compile them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nbformat
import pytest

from cellpipe.core.compiler import CompileResult, NotebookSource, compile_notebooks
from cellpipe.model import Diagnostic

FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: A cell as tests write it: source alone (untagged code), (source, tags), or
#: (source, tags, cell_type) for markdown and raw cells.
CellSpec = str | tuple[str, Sequence[str]] | tuple[str, Sequence[str], str]


def build_notebook(cells: Sequence[CellSpec], metadata: dict[str, Any] | None = None) -> nbformat.NotebookNode:
    """An nbformat 4.5 notebook (cell ids, no outputs) from cell specs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(
        {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    nb.metadata.update(metadata or {})
    for n, spec in enumerate(cells):
        if isinstance(spec, str):
            source, tags, cell_type = spec, (), "code"
        elif len(spec) == 2:
            (source, tags), cell_type = spec, "code"
        else:
            source, tags, cell_type = spec
        make = {
            "code": nbformat.v4.new_code_cell,
            "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell,
        }[cell_type]
        cell = make(source)
        cell.id = f"cell-{n}"  # stable ids: goldens must not change between runs
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def write_notebook(path: Path, cells: Sequence[CellSpec], metadata: dict[str, Any] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build_notebook(cells, metadata), str(path))
    return path


@pytest.fixture
def make_notebook(tmp_path: Path) -> Callable[..., Path]:
    """``make_notebook(name, cells, metadata=None)`` writes ``tmp_path/name`` and returns its path."""

    def make(name: str, cells: Sequence[CellSpec], metadata: dict[str, Any] | None = None) -> Path:
        return write_notebook(tmp_path / name, cells, metadata)

    return make


def compile_cells(
    *notebooks: tuple[str, Sequence[CellSpec]],
    exists: Callable[[str], bool] = lambda path: False,
) -> CompileResult:
    """Compile notebooks held in memory, given as (path, cells) pairs: no disk."""
    sources = [
        NotebookSource(path, json.loads(nbformat.writes(build_notebook(cells)))) for path, cells in notebooks
    ]
    return compile_notebooks(sources, exists=exists)


def only(diagnostics: Sequence[Diagnostic], code: str) -> Diagnostic:
    """The one diagnostic with ``code``; fails listing every diagnostic otherwise."""
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, "\n".join(d.format() for d in diagnostics) or "no diagnostics"
    return found[0]


def check_golden(actual: str, golden: Path) -> None:
    """Compare ``actual`` with the checked-in ``golden`` file.

    With ``CELLPIPE_UPDATE_GOLDEN=1`` in the environment the golden file is
    (re)written instead, and the test passes: review the diff before committing.
    """
    if os.environ.get("CELLPIPE_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
        return
    assert golden.exists(), f"{golden} is missing: run with CELLPIPE_UPDATE_GOLDEN=1 to create it"
    assert actual == golden.read_text(encoding="utf-8")


# -- the server extension under pytest-jupyter (the server test modules) --------------------


@pytest.fixture
def jp_server_config(jp_server_config):
    """A Jupyter server with cellpipe's extension enabled (root allowed, as in CI)."""
    config = {"ServerApp": {"jpserver_extensions": {"cellpipe": True}}}
    if os.geteuid() == 0:
        config["ServerApp"]["allow_root"] = True
    return config


@pytest.fixture(autouse=True)
def _stop_runs(request):
    """No run a server test starts outlives its test, whatever the test did."""
    registry = None
    if "jp_serverapp" in request.fixturenames:  # taken first, so the server stops after the runs
        registry = request.getfixturevalue("jp_serverapp").web_app.settings["cellpipe_runs"]
    yield
    if registry is not None:
        registry.stop_all()


@pytest.fixture
def api(jp_fetch):
    """``await api(METHOD, *path, body=..., params=..., headers=...)`` -> (status, JSON body)."""

    async def call(method: str, *parts: str, body: Any = None, params: Any = None,
                   headers: dict | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False}
        if body is not None:
            kwargs["body"] = body if isinstance(body, str) else json.dumps(body)
        elif method == "POST":
            kwargs["body"] = ""
        response = await jp_fetch("cellpipe", *parts, params=params, headers=headers, **kwargs)
        text = response.body.decode() if response.body else ""
        try:
            return response.code, json.loads(text) if text else None
        except ValueError:
            return response.code, text

    return call
