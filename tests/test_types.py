"""The package type-checks: mypy with the settings in pyproject.toml's
``[tool.mypy]`` (the same as running ``mypy`` in the repository root)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is in the test extra: pip install -e '.[test]'")
    # Given the package and its mypy settings, when mypy checks it (its cache in the
    # temporary folder, never in the repository, and kept between runs: seconds instead of minutes)
    monkeypatch.chdir(ROOT)
    cache = Path(tempfile.gettempdir()) / "cellpipe-mypy-cache"
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache)])
    # Then it finds nothing
    assert status == 0, out + err
    assert out.startswith("Success"), out
