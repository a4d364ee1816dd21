"""The store belongs to the project, not to the working directory: the nearest
folder upward from the notebooks with a `.cellpipe/`, a `pyproject.toml` with
`[tool.cellpipe]` or a `.git`, else the notebooks' folder. The CLI and the
server use the same rule; `--store` and `CELLPIPE_STORE` override it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellpipe.engine.project import find_root
from cellpipe.server.notebooks import step_status
from cellpipe.server.runs import RunRegistry
from conftest import write_notebook
from test_files_tracked import cellpipe, run_json, states

FLOW = [
    ("n = 3", ("parameters",)),
    ("values = list(range(n))", ("step:make",)),
    ("total = sum(values)\nprint(total)", ("step:total",)),
]


# -- the rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "is_root"),
    [
        (".git/", True),
        (".git", True),  # a git worktree's .git is a file
        (".cellpipe/", True),
        ("pyproject.toml:[tool.cellpipe]\n", True),
        ("pyproject.toml:[tool.cellpipe.settings]\nx = 1\n", True),
        ("pyproject.toml:[project]\nname = 'x'\n", False),  # any other pyproject is not a cellpipe project
        (".cellpipe", False),  # a file named .cellpipe is not a store
    ],
)
def test_the_project_root_is_the_nearest_folder_upward_with_a_marker(tmp_path: Path, marker: str,
                                                                      is_root: bool) -> None:
    project = tmp_path / "project"
    notebook = project / "notebooks" / "eda" / "analysis.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("{}")
    name, _, content = marker.partition(":")
    if name.endswith("/"):
        (project / name).mkdir()
    else:
        (project / name).write_text(content or "gitdir: elsewhere\n")
    expected = project if is_root else notebook.parent
    assert find_root([notebook]) == expected


def test_the_nearest_marker_wins_and_several_notebooks_share_their_common_folder(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    inner = tmp_path / "sub"
    (inner / ".cellpipe").mkdir(parents=True)
    a = write_notebook(inner / "a" / "a.ipynb", FLOW)
    b = write_notebook(inner / "b" / "b.ipynb", FLOW)
    assert find_root([a, b]) == inner
    c = write_notebook(tmp_path / "c" / "c.ipynb", FLOW)
    assert find_root([a, c]) == tmp_path
    # without any marker: the notebooks' common folder
    plain = tmp_path.parent / f"{tmp_path.name}-plain"
    d = write_notebook(plain / "x" / "d.ipynb", FLOW)
    e = write_notebook(plain / "y" / "e.ipynb", FLOW)
    assert find_root([d, e]) == plain


def test_compiling_from_anywhere_writes_the_same_manifest(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    write_notebook(project / "notebooks" / "flow.ipynb", FLOW)
    manifests = []
    for cwd, path in [(project / "notebooks", "flow.ipynb"), (project, "notebooks/flow.ipynb"),
                      (Path("/"), str(project / "notebooks" / "flow.ipynb"))]:
        out = tmp_path / f"build-{len(manifests)}"
        proc = cellpipe("compile", path, "-o", str(out), cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        manifests.append((out / "pipeline.json").read_text())
    assert manifests[0] == manifests[1] == manifests[2]
    assert json.loads(manifests[0])["notebooks"][0]["path"] == "notebooks/flow.ipynb"


# -- one store, wherever the command runs ------------------------------------------


@pytest.fixture(params=[True, False], ids=["fork", "plain"])
def fork(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.mark.kernel
def test_the_same_notebook_run_from_its_folder_its_parent_and_slash_reuses_one_store(tmp_path: Path,
                                                                                      fork: bool) -> None:
    # Given a notebook in a folder with no project marker
    folder = tmp_path / "a"  # short: the fork server's socket lives in the store folder
    write_notebook(folder / "flow.ipynb", FLOW)
    slash_store_before = Path("/.cellpipe").exists()

    # When it runs from its folder, then from its parent, then from /
    first = run_json("flow.ipynb", cwd=folder, fork=fork)
    second = run_json("a/flow.ipynb", cwd=tmp_path, fork=fork)
    third = run_json(str(folder / "flow.ipynb"), cwd=Path("/"), fork=fork)

    # Then the first run executes, and the others are fully cached from the same store
    assert states(first) == {"make": "done", "total": "done"}, first
    assert states(second) == {"make": "cached", "total": "cached"}, second
    assert states(third) == {"make": "cached", "total": "cached"}, third
    assert {Path(s["run_folder"]).parent.parent for s in (first, second, third)} == {folder / ".cellpipe"}
    assert not (tmp_path / ".cellpipe").exists()
    assert Path("/.cellpipe").exists() == slash_store_before  # nothing written at /

    # ... and the store commands find it from anywhere inside the project
    runs = json.loads(cellpipe("runs", "--json", cwd=folder).stdout)
    assert {r["id"] for r in runs} == {first["run"], second["run"], third["run"]}
    assert {r["root"] for r in runs} == {str(folder)}
    status = json.loads(cellpipe("status", str(folder / "flow.ipynb"), "--json", cwd=Path("/")).stdout)
    assert all(r["up_to_date"] for r in status)


@pytest.mark.kernel
def test_cellpipe_store_and_the_store_option_choose_another_store(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    write_notebook(folder / "flow.ipynb", FLOW)
    elsewhere = tmp_path / "elsewhere"
    env_run = json.loads(cellpipe("run", "flow.ipynb", "--json", cwd=folder,
                                  env={"CELLPIPE_STORE": str(elsewhere)}).stdout)
    assert states(env_run) == {"make": "done", "total": "done"}
    assert (elsewhere / "cellpipe.db").exists() and not (folder / ".cellpipe").exists()
    option_run = json.loads(cellpipe("run", str(folder / "flow.ipynb"), "--json", "--store", str(elsewhere),
                                     cwd=Path("/")).stdout)
    assert states(option_run) == {"make": "cached", "total": "cached"}


@pytest.mark.kernel
def test_the_server_finds_the_store_a_terminal_run_made_by_the_same_rule(tmp_path: Path) -> None:
    # Given a project (a git repository) below the server's root, run from a terminal in a subfolder
    project = tmp_path / "w" / "p"
    (project / ".git").mkdir(parents=True)
    write_notebook(project / "notebooks" / "flow.ipynb", FLOW)
    summary = run_json("flow.ipynb", cwd=project / "notebooks")
    assert (project / ".cellpipe" / "cellpipe.db").exists()

    # When the server, rooted above the project, is asked about the notebook
    server_root = tmp_path
    report = step_status(server_root, "w/p/notebooks/flow.ipynb")
    listed = RunRegistry(server_root).list("w/p/notebooks/flow.ipynb")

    # Then it reads the project's store: the steps are up to date, and the run is listed
    assert [s["up_to_date"] for s in report["steps"]] == [True, True]
    assert [r["id"] for r in listed["runs"]] == [summary["run"]]
    assert not (server_root / ".cellpipe").exists()
