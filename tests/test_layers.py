"""The architecture is checked, not hoped for: import-linter's contracts from
pyproject.toml (core < engine < faces; a pure core; faces apart)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    # Given the contracts in pyproject.toml, when import-linter checks the package
    result = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                            cwd=ROOT / "python_pkg", capture_output=True, text=True, timeout=300)
    # Then every contract is kept
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_top_level_shows_the_architecture():
    package = ROOT / "python_pkg" / "cellpipe"
    modules = sorted(p.name for p in package.iterdir() if p.suffix == ".py")
    folders = sorted(p.name for p in package.iterdir() if (p / "__init__.py").exists())
    assert folders == ["cli", "core", "engine", "server"]
    assert modules == ["__init__.py", "_version.py", "errors.py", "model.py", "runtime.py"]
