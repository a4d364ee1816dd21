"""Rollback: ``cellpipe checkout RUN [--step S]`` puts back an earlier run's
files byte for byte, keeps the current copies in the store (``--undo`` puts
them back), and ``cellpipe status`` says which outputs are checked out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellpipe.cli import main
from conftest import write_notebook

pytestmark = pytest.mark.kernel

CELLS = [
    ("import os\nimport json", ("imports",)),
    ("value = 1", ("parameters",)),
    ("os.makedirs('out/parts', exist_ok=True)\n"
     "with open('out/result.txt', 'w') as fh:\n    fh.write(f'result {value}\\n' * 1000)\n"
     "for i in range(3):\n    with open(f'out/parts/p{i}.json', 'w') as fh:\n        json.dump({'i': i, 'v': value}, fh)",
     ("step:make", "out:out/result.txt", "out:out/parts/")),
    ("with open('out/summary.txt', 'w') as fh:\n    fh.write(str(value * 10))", ("step:summary", "out:out/summary.txt")),
]


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "out").rglob("*")) if p.is_file()}


def test_checkout_restores_an_earlier_run_byte_for_byte_and_keeps_the_current_copies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["run", "flow.ipynb", "--json", "-j", "1", "-p", "value=1"]) == 0
    first = json.loads(capsys.readouterr().out)["run"]
    old = files(tmp_path)
    assert main(["run", "flow.ipynb", "-j", "1", "-p", "value=2"]) == 0
    (tmp_path / "out" / "summary.txt").write_text("edited by hand")  # the user's own copy
    current = files(tmp_path)
    assert current != old

    capsys.readouterr()
    assert main(["checkout", first, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert files(tmp_path) == old  # byte for byte, the folder output included
    assert sorted(result["restored"]) == sorted(p for p in old if current[p] != old[p])
    # every replaced copy is kept in the store, readable where the message says
    for rel, kept in result["kept"].items():
        assert Path(kept).read_bytes() == current[rel]
    assert Path(result["kept"]["out/summary.txt"]).read_bytes() == b"edited by hand"

    # status says which outputs are an earlier run's copy
    assert main(["status", "flow.ipynb", "-p", "value=2", "--json"]) == 0
    reasons = {r["step"]: r["reason"] for r in json.loads(capsys.readouterr().out)}
    assert f"run {first}'s copy, checked out" in reasons["make"]
    assert "checkout --undo" in reasons["summary"]

    # undo puts the current copies back
    assert main(["checkout", "--undo"]) == 0
    assert files(tmp_path) == current
    capsys.readouterr()
    assert main(["status", "flow.ipynb", "-p", "value=2", "--json"]) == 0
    reasons = {r["step"]: r["reason"] for r in json.loads(capsys.readouterr().out)}
    assert reasons["make"] == "up to date"


def test_checkout_of_one_step_leaves_the_other_files(tmp_path: Path, monkeypatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["run", "flow.ipynb", "--json", "-j", "1"]) == 0
    first = json.loads(capsys.readouterr().out)["run"]
    assert main(["run", "flow.ipynb", "-j", "1", "-p", "value=3"]) == 0
    assert main(["checkout", first, "--step", "summary"]) == 0
    text = capsys.readouterr().out
    assert f"checked out run {first} step summary: 1 file(s) put back" in text
    assert "your copy is kept at" in text and "cellpipe checkout --undo" in text
    assert (tmp_path / "out" / "summary.txt").read_text() == "10"
    assert (tmp_path / "out" / "result.txt").read_text().startswith("result 3")
    assert main(["checkout", first, "--step", "nosuch"]) == 2
    assert "has no step 'nosuch'" in capsys.readouterr().err
