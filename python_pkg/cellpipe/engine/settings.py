"""A project's settings: the ``[tool.cellpipe]`` table of the ``pyproject.toml``
at its root. I/O edge; read on demand, never cached across processes.

Keys read by the engine: ``store`` (a folder, relative to the root, or an fsspec
URL: where objects and run folders go) and ``remote`` (an fsspec URL: the shared
cache looked up before a step runs). The command line and the environment win
over these (``--store``/``CELLPIPE_STORE``, ``--cache-from``/``CELLPIPE_REMOTE``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError

_LINE = re.compile(r"""^\s*([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(true|false))\s*(?:#.*)?$""")


def _parse(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            table = tomllib.loads(text).get("tool", {}).get("cellpipe", {})
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path} is not valid TOML ({exc}). Fix: correct the file") from exc
        return table if isinstance(table, dict) else {}
    else:  # pragma: no cover - no TOML reader in the standard library
        return _parse_plain(text)


def _parse_plain(text: str) -> dict[str, Any]:
    """Without a TOML reader (Python 3.10): ``key = "value"`` lines of the table."""
    found: dict[str, Any] = {}
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped == "[tool.cellpipe]"
            continue
        match = _LINE.match(line) if inside else None
        if match:
            name, dq, sq, flag = match.groups()
            found[name] = (flag == "true") if flag else (dq if dq is not None else sq)
    return found


def project_settings(root: Path) -> dict[str, Any]:
    """The ``[tool.cellpipe]`` table of ``root/pyproject.toml`` ({} without one)."""
    path = root / "pyproject.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    if "cellpipe" not in text:
        return {}
    return _parse(text, path)


def setting(root: Path, name: str) -> str | None:
    """One string setting of ``[tool.cellpipe]``; a value of another type is a usage error."""
    value = project_settings(root).get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"[tool.cellpipe] {name} in {root / 'pyproject.toml'} must be a non-empty string "
                         f"(a folder or a URL), not {value!r}")
    return value.strip()
