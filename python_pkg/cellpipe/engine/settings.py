"""A project's settings: the ``[tool.cellpipe]`` table of the ``pyproject.toml``
at its root, or the top level of a ``cellpipe.toml`` there (which wins when both
exist). I/O edge; read on demand, never cached across processes.

Keys read by the engine: ``store`` (a folder, relative to the root, or an fsspec
URL: where objects and run folders go) and ``remote`` (an fsspec URL: the shared
cache looked up before a step runs). The command line and the environment win
over these (``--store``/``CELLPIPE_STORE``, ``--cache-from``/``CELLPIPE_REMOTE``).

Keys read by the command line (``cellpipe run``, ``validate``, ``status``):
``notebooks`` (paths or globs relative to the root: the pipeline when no NOTEBOOK
is named), ``jobs``, ``executor``, ``params`` (parameters files, applied before
``--params`` and ``-p``) and ``timeout-step`` (seconds). Options given on the
command line win. ``mlflow`` (a tracking URI, or true) and ``mlflow-experiment`` are read by
:mod:`cellpipe.engine.integrations.mlflow`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError

_LINE = re.compile(r"""^\s*([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(true|false))\s*(?:#.*)?$""")


def _toml() -> Any:
    """The TOML reader: the standard library's, or tomli on Python 3.10 (None without it)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # pragma: no cover - Python 3.10
        import tomli

        return tomli
    except ImportError:  # pragma: no cover
        return None


def _load(text: str, path: Path) -> dict[str, Any] | None:
    """The whole TOML document; None when no TOML reader is installed."""
    toml = _toml()
    if toml is None:  # pragma: no cover
        return None
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}). Fix: correct the file") from exc
    return data if isinstance(data, dict) else {}


def _parse(text: str, path: Path) -> dict[str, Any]:
    data = _load(text, path)
    if data is None:  # pragma: no cover
        return _parse_plain(text)
    tool = data.get("tool", {})
    table = tool.get("cellpipe", {}) if isinstance(tool, dict) else {}
    return table if isinstance(table, dict) else {}


def _parse_plain(text: str) -> dict[str, Any]:
    """Without a TOML reader (Python 3.10 without tomli): ``key = "value"`` lines of the table."""
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


CONFIG_FILE = "cellpipe.toml"


def _parse_config_file(text: str, path: Path) -> dict[str, Any]:
    """A ``cellpipe.toml``: its top level (or a ``[tool.cellpipe]`` table in it)."""
    data = _load(text, path)
    if data is None:  # pragma: no cover
        return _parse_plain("[tool.cellpipe]\n" + text)
    tool = data.get("tool")
    table = tool.get("cellpipe") if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else {k: v for k, v in data.items() if k != "tool"}


def settings_file(root: Path) -> Path:
    """The file the settings of ``root`` come from (``cellpipe.toml`` when it exists)."""
    config = root / CONFIG_FILE
    return config if config.is_file() else root / "pyproject.toml"


def project_settings(root: Path) -> dict[str, Any]:
    """The settings of the project at ``root``: ``cellpipe.toml``'s, else the
    ``[tool.cellpipe]`` table of ``pyproject.toml`` ({} without either)."""
    path = settings_file(root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    if path.name == CONFIG_FILE:
        return _parse_config_file(text, path)
    if "cellpipe" not in text:
        return {}
    return _parse(text, path)


def _where(root: Path, name: str) -> str:
    path = settings_file(root)
    return f"{name} in {path}" if path.name == CONFIG_FILE else f"[tool.cellpipe] {name} in {path}"


def setting(root: Path, name: str, what: str = "a folder or a URL") -> str | None:
    """One string setting of ``[tool.cellpipe]``; a value of another type is a usage error."""
    value = project_settings(root).get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{_where(root, name)} must be a non-empty string "
                         f"({what}), not {value!r}")
    return value.strip()


def _strings(root: Path, name: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        raise UsageError(f"{_where(root, name)} must be a list of paths, not {value!r}. "
                         f'Fix: write {name} = ["a.ipynb", "notebooks/*.ipynb"]')
    return [v.strip() for v in items]


def _files(root: Path, name: str, patterns: list[str]) -> list[Path]:
    """The files the paths or globs name, relative to ``root``, in the order given, each once."""
    found: list[Path] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(p for p in root.glob(pattern)
                             if p.is_file() and ".ipynb_checkpoints" not in p.parts)
            if not matches:
                raise UsageError(f"{_where(root, name)}: {pattern!r} matches no file under {root}. "
                                 "Fix: correct the pattern or remove it")
        else:
            matches = [root / pattern]
            if not matches[0].is_file():
                raise UsageError(f"{_where(root, name)}: {pattern!r} is not a file under {root}. "
                                 "Fix: correct the path or remove it")
        found += [p for p in matches if p not in found]
    return found


def notebooks(root: Path) -> list[Path] | None:
    """The notebooks the settings name (globs expanded), None when they name none."""
    value = project_settings(root).get("notebooks")
    if value is None:
        return None
    return _files(root, "notebooks", _strings(root, "notebooks", value)) or None


def params_files(root: Path) -> list[Path]:
    """The parameters files the settings name ([] without any)."""
    value = project_settings(root).get("params")
    return [] if value is None else _files(root, "params", _strings(root, "params", value))


def number(root: Path, name: str, integer: bool = False) -> float | None:
    """A positive number setting (``jobs``, ``timeout-step``); None when absent."""
    value = project_settings(root).get(name)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not 0 < value < float("inf"):
        what = "a positive whole number" if integer else "a positive number of seconds"
        raise UsageError(f"{_where(root, name)} must be {what}, not {value!r}. Fix: write {name} = 4")
    return value
