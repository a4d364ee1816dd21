"""Which local ``.py`` modules a step's code imports, followed through the
import graph, so that editing a helper module makes the step stale."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from cellpipe.core.ipysyntax import parse_code


def imported_modules(source: str) -> list[tuple[str, int]]:
    """Dotted module names imported by ``source`` with their relative level."""
    try:
        tree = parse_code(source)
    except SyntaxError:
        return []
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.append((base, node.level))
            for alias in node.names:  # `from pkg import sub` may import a submodule
                if alias.name != "*":
                    found.append((f"{base}.{alias.name}" if base else alias.name, node.level))
    return found


def _resolve(name: str, level: int, folder: Path, current: Path | None) -> list[Path]:
    if level:
        if current is None:
            return []
        base = current.parent
        for _ in range(level - 1):
            base = base.parent
    else:
        base = folder
    parts = [p for p in name.split(".") if p]
    hits: list[Path] = []
    here = base
    for i, part in enumerate(parts):
        pkg = here / part / "__init__.py"
        mod = here / f"{part}.py"
        if pkg.is_file():
            hits.append(pkg)
            here = here / part
        elif mod.is_file() and i == len(parts) - 1:
            hits.append(mod)
        else:
            break
    return hits


def local_modules(sources: Iterable[str], folder: Path) -> list[Path]:
    """Local modules (files under ``folder``) imported by the code, transitively."""
    folder = folder.resolve()
    seen: dict[Path, None] = {}
    todo: list[tuple[str, int, Path | None]] = [
        (name, level, None) for src in sources for name, level in imported_modules(src)
    ]
    while todo:
        name, level, current = todo.pop()
        for path in _resolve(name, level, folder, current):
            path = path.resolve()
            if path in seen or folder not in path.parents:
                continue
            seen[path] = None
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            todo.extend((n, lvl, path) for n, lvl in imported_modules(text))
    return sorted(seen)


def top_level_imports(sources: Iterable[str]) -> set[str]:
    """Top-level names of absolute imports (``sklearn`` for ``sklearn.ensemble``)."""
    names: set[str] = set()
    for src in sources:
        for name, level in imported_modules(src):
            if not level and name:
                names.add(name.split(".")[0])
    return names
