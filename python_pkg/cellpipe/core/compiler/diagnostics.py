"""Collecting diagnostics while compiling: every problem, placed at its cell."""

from __future__ import annotations

from collections.abc import Callable

from cellpipe.model import (
    Diagnostic,
    Severity,
)


class Collector:
    """Holds the problems found so far; the compiler's parts add to it."""

    def __init__(self, exists: Callable[[str], bool]) -> None:
        self.exists = exists
        self.diags: list[Diagnostic] = []
        #: (notebook, cell index) -> the cell's nbformat id, so that every
        #: diagnostic can be linked to its cell
        self.cell_ids: dict[tuple[str, int], str | None] = {}
        self.reentry_reported: set[tuple[str, str]] = set()
        #: problems reported once although several steps meet them
        self.reported: set[tuple[object, ...]] = set()

    def _diag(self, severity: Severity, code: str, message: str, nb: str | None, cell: int | None,
              fix: str, line: int | None, cell_id: str | None) -> None:
        if cell_id is None and nb is not None and cell is not None:
            cell_id = self.cell_ids.get((nb, cell))
        self.diags.append(Diagnostic(severity, code, message, nb, cell, fix, line, cell_id))

    def error(self, code: str, message: str, nb: str | None, cell: int | None = None,
              fix: str = "", line: int | None = None, cell_id: str | None = None) -> None:
        self._diag("error", code, message, nb, cell, fix, line, cell_id)

    def warn(self, code: str, message: str, nb: str | None, cell: int | None = None,
             fix: str = "", line: int | None = None, cell_id: str | None = None) -> None:
        self._diag("warning", code, message, nb, cell, fix, line, cell_id)
