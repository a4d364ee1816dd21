"""A failed step's traceback, read back in terms of its source notebook. Pure.

A step runs as a compiled notebook whose cells point back to their source cells
(``metadata.cellpipe.source``). IPython's traceback names cells by execution
count (``Cell In[6], line 4``); this module turns that into what the user
wrote: ``nb.ipynb cell 3, line 4: z = f(0)``, and keeps the last frames of the
traceback, without colours, for the terminal, ``--json`` and the step's log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FailureSite", "explain", "strip_ansi", "LAST_FRAMES"]

#: how many frames of the traceback a user is shown (the innermost ones)
LAST_FRAMES = 3

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CELL_FRAME = re.compile(r"^Cell In\[(\d+)\], line (\d+)")
_ARROW = re.compile(r"^-+>\s*(\d+)\s?(.*)$")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


@dataclass
class FailureSite:
    """Where a step failed, in the source notebook's terms."""

    notebook: str | None = None
    cell: int | None = None  # 1-based cell number in the source notebook
    line: int | None = None  # 1-based line in that cell
    code: str | None = None  # the failing line's text
    #: the traceback's last frames (and the error line), without colours, cells named as in the source
    traceback: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "traceback": self.traceback}


def _source_of(cell: dict[str, Any]) -> dict[str, Any]:
    return ((cell.get("metadata") or {}).get("cellpipe") or {}).get("source") or {}


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _source_line(original: str | None, compiled: str, line: int) -> int | None:
    """The line of ``original`` that line ``line`` of ``compiled`` came from (the
    compiled cell may differ a little: rewritten paths), or None."""
    compiled_lines = compiled.splitlines()
    if not 0 < line <= len(compiled_lines):
        return None
    if original is None or original == compiled:
        return line
    wanted = compiled_lines[line - 1].strip()
    found = [n for n, text in enumerate(original.splitlines(), 1) if text.strip() == wanted]
    return min(found, key=lambda n: abs(n - line)) if found else None


def explain(notebook: dict[str, Any], originals: dict[tuple[str, int], str] | None = None) -> FailureSite:
    """Where the executed step ``notebook`` failed (its first cell with an error output).

    ``originals`` maps (source notebook, 0-based cell index) to the source cell's
    text, for the line numbers of cells the compiler changed.
    """
    cells = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    failing = next((c for c in cells if any(o.get("output_type") == "error" for o in c.get("outputs") or [])),
                   None)
    site = FailureSite()
    if failing is None:
        return site
    error = next((o for o in failing.get("outputs") or [] if o.get("output_type") == "error"), None)
    by_count = {c.get("execution_count"): c for c in cells if c.get("execution_count") is not None}
    originals = originals or {}
    frames: list[list[str]] = []
    for entry in (error or {}).get("traceback") or []:
        lines = strip_ansi(str(entry)).rstrip("\n").splitlines()
        if not lines or set(lines[0].strip()) <= {"-"}:
            continue  # the rule IPython draws above the traceback
        if lines[0].endswith("Traceback (most recent call last)"):
            continue
        match = _CELL_FRAME.match(lines[0])
        if match:
            cell = by_count.get(int(match.group(1))) or {}
            src = _source_of(cell)
            if src.get("notebook") and src.get("number"):
                compiled = _text(cell.get("source"))
                original = originals.get((src["notebook"], src.get("index", src["number"] - 1)))
                number = _source_line(original, compiled, int(match.group(2)))
                at = f", line {number}" if number else ""
                lines[0] = f"{src['notebook']} cell {src['number']}{at}" + lines[0][match.end():]
                if cell is failing and site.line is None:
                    site.notebook, site.cell, site.line = src["notebook"], src["number"], number
                    site.code = _arrow_code(lines)
        frames.append(lines)
    site.traceback = [line for frame in frames[-(LAST_FRAMES + 1):] for line in frame]
    if site.line is None:  # the error came from the cell itself (a SyntaxError): the cell's source
        src = _source_of(failing)
        site.notebook, site.cell = src.get("notebook"), src.get("number")
    return site


def _arrow_code(frame: list[str]) -> str | None:
    """The line a frame points at (``----> 4 z = f(0)``)."""
    for line in frame[1:]:
        match = _ARROW.match(line.strip())
        if match:
            return match.group(2).strip()
    return None
