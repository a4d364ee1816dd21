"""Diagnostics for CI: GitHub workflow annotations and plain JSON.

A GitHub annotation points at a line of a file in the repository. A notebook's
diagnostic names a cell, not a line, so the line given is the cell's first line
in the ``.ipynb`` file as stored: the line of the ``{`` that opens the cell's
JSON object, found by walking the raw file text (the JSON is not reformatted,
so the line is the one GitHub shows in the pull request's diff of that file).
A diagnostic of the whole notebook points at line 1; one of the whole pipeline
names no file. A file that is not a JSON notebook (a text notebook) gets no line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cellpipe.model import Diagnostic

_WHITESPACE = " \t\n\r"


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def cell_offsets(text: str) -> list[int]:
    """Character offsets of the ``{`` opening each cell of a notebook's JSON text.

    Walks the top-level object with the standard JSON decoder, decoding every value
    but the ``cells`` list whole; [] when the text is not a notebook's JSON."""
    decoder = json.JSONDecoder()
    try:
        pos = _skip(text, 0)
        if text[pos] != "{":
            return []
        pos = _skip(text, pos + 1)
        while text[pos] != "}":
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            pos = _skip(text, pos + 1)  # the ':'
            if key == "cells" and text[pos] == "[":
                offsets: list[int] = []
                pos = _skip(text, pos + 1)
                while text[pos] != "]":
                    offsets.append(pos)
                    _, pos = decoder.raw_decode(text, pos)
                    pos = _skip(text, pos)
                    if text[pos] == ",":
                        pos = _skip(text, pos + 1)
                return offsets
            _, pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos = _skip(text, pos + 1)
    except (IndexError, ValueError):
        return []
    return []


def cell_lines(text: str) -> list[int]:
    """The 1-based line of each cell's first line in a notebook's JSON text."""
    lines: list[int] = []
    last, line = 0, 1
    for offset in cell_offsets(text):
        line += text.count("\n", last, offset)
        last = offset
        lines.append(line)
    return lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class _Lines:
    """Cell lines of the notebooks of a project, each file read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[str, list[int]] = {}

    def of(self, notebook: str, cell: int) -> int | None:
        if notebook not in self.cache:
            try:
                text = (self.root / notebook).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError, ValueError):
                text = ""
            self.cache[notebook] = cell_lines(text)
        lines = self.cache[notebook]
        return lines[cell] if 0 <= cell < len(lines) else None


def _shown_path(root: Path, notebook: str, cwd: Path) -> str:
    """The notebook's path as GitHub wants it: relative to the working directory
    (the repository's root in a workflow) when the file is under it."""
    path = os.path.abspath(root / notebook)
    relative = os.path.relpath(path, cwd)
    return Path(path if relative.startswith("..") else relative).as_posix()


def github_annotations(diagnostics: Sequence[Diagnostic], root: Path, cwd: Path | None = None) -> list[str]:
    """One ``::error``/``::warning`` workflow command per diagnostic, for GitHub Actions."""
    cwd = cwd or Path.cwd()
    lines = _Lines(root)
    out: list[str] = []
    for diag in diagnostics:
        kind = "error" if diag.severity == "error" else "warning"
        props: list[str] = []
        if diag.notebook:
            props.append(f"file={_escape_property(_shown_path(root, diag.notebook, cwd))}")
            line = 1 if diag.cell is None else lines.of(diag.notebook, diag.cell)
            if line is not None:
                props.append(f"line={line}")
        props.append(f"title={_escape_property(diag.code)}")
        where = f" (cell {diag.cell_number})" if diag.cell_number is not None else ""
        message = f"{diag.message.rstrip('.')}{where}."
        if diag.fix:
            message += f" Fix: {diag.fix}"
        out.append(f"::{kind} {','.join(props)}::{_escape_data(message)}")
    return out


def json_diagnostics(diagnostics: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    """The diagnostics as a JSON-ready list: notebook, cell, code, severity, message, fix (and more)."""
    return [d.to_dict() for d in diagnostics]
