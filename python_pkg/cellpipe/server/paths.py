"""Confinement to the server's root: every path a request names is resolved
here, and anything outside the root (``../``, an absolute path elsewhere, a
symlink that leads out) is refused. No jupyter_server import: plain functions.
"""

from __future__ import annotations

import os
from pathlib import Path

from cellpipe.errors import CellpipeError


class PathOutsideRoot(CellpipeError):
    """A request named a path outside the server's root (HTTP 403)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path!r} is outside the server's root folder; cellpipe only reads and writes files under it. "
            "Fix: give a path relative to the root, without '..'"
        )


class NotFound(CellpipeError):
    """A request named a notebook or a run that does not exist (HTTP 404)."""


def confine(root: Path, path: str) -> Path:
    """The absolute, symlink-resolved form of ``path`` (relative to ``root``, or
    absolute), provided it is ``root`` itself or lies under it."""
    if not isinstance(path, str) or not path.strip():
        raise CellpipeError("name a path relative to the server's root, e.g. \"folder/analysis.ipynb\"")
    if "\x00" in path:
        raise PathOutsideRoot(path)
    try:
        os.fsencode(path)
    except UnicodeEncodeError:  # a lone surrogate that no file name can hold
        raise CellpipeError(f"the path {path!r} holds a character no file name can hold (a lone surrogate). "
                            "Fix: send the path as the file browser shows it") from None
    root = root.resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop; a name too long to look up
        raise NotFound(f"{path!r} cannot be followed to a file under the server's root ({exc})") from exc
    if resolved != root and root not in resolved.parents:
        raise PathOutsideRoot(path)
    return resolved


def relative(path: Path, root: Path) -> str:
    """``path`` (already confined) relative to ``root``, with posix separators."""
    return path.relative_to(root.resolve()).as_posix()


def root_relative_or_none(path: str | None, root: Path) -> str | None:
    """A path recorded by a run (absolute) as the root-relative path the panel can
    open; None when it is missing or lies outside the root."""
    if not path:
        return None
    try:
        return relative(confine(root, path), root)
    except CellpipeError:
        return None


def exists_under(root: Path):
    """The compiler's ``exists`` predicate for ``in:`` files: True only for
    existing paths under ``root`` (the server never probes outside it)."""

    def exists(rel: str) -> bool:
        try:
            return confine(root, rel).exists()
        except (CellpipeError, OSError, ValueError):  # a name too long: no such file can exist
            return False

    return exists


def notebook_file(root: Path, path: str) -> tuple[Path, str]:
    """A notebook that must exist on disk: its absolute path and its root-relative name."""
    file = confine(root, path)
    if not is_file(file):
        raise NotFound(f"no notebook {path!r} under the server's root")
    return file, relative(file, root)


def is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a path the system cannot look up is not."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
