"""Compiled step notebooks, run with plain papermill in dependency order, give
the same results as running the source notebooks top to bottom: the same
variables reach each step, and the same files are written."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest
from nbclient import NotebookClient

from cellpipe.engine.project import compile_paths, write_build

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example_notebooks"
DEMO = Path(__file__).resolve().parent / "fixtures" / "equivalence"

pytestmark = pytest.mark.kernel


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path, rel_paths: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for rel in rel_paths:
        target = root / rel
        if target.is_dir():
            for f in sorted(p for p in target.rglob("*") if p.is_file()):
                found[f.relative_to(root).as_posix()] = _digest(f)
        elif target.exists():
            found[rel] = _digest(target)
    return found


def _run_top_to_bottom(notebook: Path, probes: dict[int, list[str]], record: Path) -> None:
    """Execute ``notebook`` in its folder, recording a fingerprint of the named
    variables just before the given cells run."""
    nb = nbformat.read(notebook, as_version=4)
    # values cross steps through a file: probe them as the next step would see them
    setup = nbformat.v4.new_code_cell(
        "import tempfile as _tf, pathlib as _pl\n"
        "from cellpipe.engine.serialize import fingerprint as _fp, save_value as _sv, load_value as _lv\n"
        "_dir = _pl.Path(_tf.mkdtemp())\n"
        "def _seen(name, value):\n"
        "    return _fp(_lv(_dir, _sv(value, _dir, name)))\n"
        "_probe = {}\n"
    )
    cells = [setup]
    for i, cell in enumerate(nb.cells):
        if i in probes:
            names = probes[i]
            cells.append(
                nbformat.v4.new_code_cell(
                    f"_probe[{i}] = {{n: _seen(n, globals()[n]) for n in {names!r} if n in globals()}}"
                )
            )
        if "skip" not in cell.metadata.get("tags", []):
            cells.append(cell)
    cells.append(
        nbformat.v4.new_code_cell(
            f"import json\nopen({str(record)!r}, 'w').write(json.dumps(_probe))"
        )
    )
    nb.cells = cells
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()


def _equivalence(tmp_path: Path, sources: list[Path], copy_from: Path) -> None:
    # Given a copy of the notebooks' folder (so files written do not touch the repo)
    work = tmp_path / "work"
    shutil.copytree(copy_from, work, ignore=shutil.ignore_patterns("data", "reports", "models", ".*"))
    notebooks = [work / s.relative_to(copy_from) for s in sources]
    result, root = compile_paths(notebooks, root=work)
    assert not result.errors, [d.format() for d in result.errors]
    pipeline = result.pipeline
    assert pipeline is not None
    out_files = [f for s in pipeline.steps for f in s.file_outputs]

    # When the notebooks run top to bottom (in the order given), probing each
    # step's variable inputs just before the step's first cell
    expected: dict[str, dict[str, str]] = {}
    for nb_path in notebooks:
        rel = nb_path.relative_to(work).as_posix()
        steps = [s for s in pipeline.steps if s.notebook == rel]
        probes = {s.cells[0].index: [v.name for v in s.var_inputs] for s in steps if s.var_inputs}
        record = tmp_path / f"probe-{nb_path.stem}.json"
        _run_top_to_bottom(nb_path, probes, record)
        seen = json.loads(record.read_text())
        for s in steps:
            if s.var_inputs:
                expected[s.name] = seen[str(s.cells[0].index)]
    files_top_to_bottom = _files(work, out_files)
    assert set(files_top_to_bottom) >= {f for f in out_files if not f.endswith("/")}
    for f in files_top_to_bottom:
        (work / f).unlink()

    # And the compiled step notebooks run with plain papermill, in dependency order
    build = tmp_path / "build"
    write_build(pipeline, build, root)
    for step in pipeline.steps:
        papermill.execute_notebook(
            str(build / "steps" / f"{step.name}.ipynb"),
            str(tmp_path / f"out-{step.name}.ipynb"),
            parameters={"cellpipe_artifacts": str(build / "artifacts")},
            kernel_name="python3",
            progress_bar=False,
        )

    # Then every step received the same variables, and the same files were written
    for step in pipeline.steps:
        record = json.loads((build / "artifacts" / step.name / "_outputs.json").read_text())
        assert record["changed_inputs"] == [], step.name
        if step.var_inputs:
            got = record["input_fingerprints"]
            assert got == expected[step.name], f"step {step.name} received different values"
    assert _files(work, out_files) == files_top_to_bottom


def test_fixture_notebook_runs_the_same_as_its_compiled_steps(tmp_path: Path) -> None:
    _equivalence(tmp_path, [DEMO / "flow.ipynb"], DEMO)


def _examples() -> list[list[Path]]:
    cases = [[p] for p in sorted(EXAMPLES.glob("*.ipynb"))]
    multi = EXAMPLES / "multi"
    if (multi / "prepare.ipynb").exists():
        cases.append([multi / "prepare.ipynb", multi / "train.ipynb"])
    return cases


@pytest.mark.parametrize("sources", _examples(), ids=lambda s: "+".join(p.stem for p in s))
def test_example_runs_the_same_as_its_compiled_steps(tmp_path: Path, sources: list[Path]) -> None:
    _equivalence(tmp_path, sources, EXAMPLES)
