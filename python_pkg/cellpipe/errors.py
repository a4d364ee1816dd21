"""One exception root for cellpipe, with structured fields.

Every error a user can meet is a :class:`CellpipeError`. Subclasses build their
message from structured fields in ``__init__`` so that the CLI and the server can
both show a sentence that names the notebook, the cell and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cellpipe.model import Diagnostic


class CellpipeError(Exception):
    """Root of every error cellpipe raises on purpose."""

    #: exit code the CLI uses for this error (2: bad input or usage)
    exit_code: int = 2


class NotebookError(CellpipeError):
    """A notebook could not be read (missing, not JSON, not nbformat 4)."""

    def __init__(self, path: str, reason: str, fix: str = "") -> None:
        self.path = path
        self.reason = reason
        self.fix = fix
        msg = f"{path}: {reason}"
        if fix:
            msg += f" Fix: {fix}"
        super().__init__(msg)


class PipelineInvalid(CellpipeError):
    """Compilation found errors; ``diagnostics`` holds every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        lines = [d.format() for d in errors]
        super().__init__(
            f"{len(errors)} error(s) in the pipeline:\n" + "\n".join(lines)
        )


class UsageError(CellpipeError):
    """The command line or an API call asked for something that does not exist."""


class ArtifactError(CellpipeError):
    """A compiled step could not load an input or save an output.

    Raised inside the step's kernel, so papermill records it in the step's
    output notebook; the message names the variable, the steps and the fix.
    """

    exit_code = 1

    def __init__(self, message: str, fix: str = "") -> None:
        self.fix = fix
        super().__init__(message + (f"\nFix: {fix}" if fix else ""))
