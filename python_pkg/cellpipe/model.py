"""The pipeline's vocabulary: frozen dataclasses shared by compiler, runner,
CLI and server. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Severity = Literal["error", "warning"]


class StepState(str, Enum):
    """A step's state in a run: the one list shared by the runner, the CLI's
    report, the store's records, the server and (checked by a test) the
    TypeScript wire type ``StepState`` in ``labextension/src/tokens.ts``.

    A member is its string value (``StepState.DONE == "done"``), so records and
    JSON keep plain strings.
    """

    PENDING = "pending"
    RUNNING = "running"
    CACHED = "cached"
    DONE = "done"
    FAILED = "failed"
    #: a check of the step failed (a failed assert in a ``check`` cell, or ``cellpipe.check``)
    CHECK_FAILED = "check_failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        """Whether a step in this state is settled for the run."""
        return self not in (StepState.PENDING, StepState.RUNNING)


class RunState(str, Enum):
    """A run's state (``starting`` only for a run the server launched that has
    not written its record yet); mirrored by the TypeScript ``RunState``."""

    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


#: the states in which a step is settled for its run
TERMINAL_STEP_STATES = frozenset(s for s in StepState if s.terminal)


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in the notebooks, placed where the user can find it.

    ``cell`` is the 0-based position of the cell in its notebook; users see
    ``cell + 1`` (JupyterLab counts cells from 1, markdown included).
    """

    severity: Severity
    code: str
    message: str
    notebook: str | None = None
    cell: int | None = None
    fix: str = ""
    line: int | None = None
    cell_id: str | None = None

    @property
    def cell_number(self) -> int | None:
        return None if self.cell is None else self.cell + 1

    def location(self) -> str:
        parts = [self.notebook or "pipeline"]
        if self.cell is not None:
            parts.append(f"cell {self.cell + 1}")
            if self.line is not None:
                parts.append(f"line {self.line}")
        return ": ".join(parts)

    def format(self) -> str:
        text = f"{self.location()}: {self.severity} {self.code}: {self.message}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "notebook": self.notebook,
            "cell": self.cell,
            "cell_number": self.cell_number,
            "cell_id": self.cell_id,
            "line": self.line,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class CellRef:
    """A cell of a source notebook: its 0-based position and its nbformat id."""

    notebook: str
    index: int
    id: str | None = None

    @property
    def number(self) -> int:
        return self.index + 1


@dataclass(frozen=True)
class Parameter:
    """A pipeline parameter read from a notebook's ``parameters`` cell."""

    name: str
    default: Any
    schema: dict[str, Any]
    notebook: str
    cell: int
    line: int
    annotation: str | None = None
    literal: str | None = None  # the default as written back into step notebooks

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"default": self.default, "schema": self.schema}
        if self.annotation:
            data["annotation"] = self.annotation
        if self.literal is not None:
            data["literal"] = self.literal  # as written: `1.0` stays `1.0`, where JSON says 1
        return data


@dataclass(frozen=True)
class VariableInput:
    """A variable a step loads, and the step that produces it."""

    name: str
    producer: str


@dataclass(frozen=True)
class Step:
    """One pipeline step: cells of one notebook run together in one kernel."""

    name: str
    notebook: str
    cells: tuple[CellRef, ...]
    code_hash: str
    parameters: tuple[str, ...] = ()
    var_inputs: tuple[VariableInput, ...] = ()
    var_outputs: tuple[str, ...] = ()
    #: var -> steps that load it from this step
    consumers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: inputs this step changes in place according to the analysis
    mutated_inputs: tuple[str, ...] = ()
    file_inputs: tuple[str, ...] = ()
    file_outputs: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    #: import statements copied from the steps that made those names
    imports: tuple[str, ...] = ()
    #: the source cell each of ``imports`` is copied from (-1: not known)
    import_cells: tuple[int, ...] = ()
    #: (source cell index, statement): process-wide settings made by earlier
    #: steps, run again at the start of this step, in notebook order
    replayed: tuple[tuple[int, str], ...] = ()
    #: (variable, run id): inputs an earlier run saw this step change in place,
    #: which the analysis did not see; the step passes them on
    learned: tuple[tuple[str, str], ...] = ()
    nocache: bool = False
    hints: tuple[tuple[str, str], ...] = ()

    @property
    def code_cells(self) -> tuple[CellRef, ...]:
        return self.cells

    @property
    def timeout(self) -> float | None:
        """Seconds the step may run (its ``timeout:`` tag; several: the largest), or None."""
        values = [float(v) for kind, v in self.hints if kind == "timeout"]
        return max(values) if values else None

    @property
    def retries(self) -> int:
        """How many times a failed step runs again (its ``retry:`` tag; several: the largest)."""
        return max((int(v) for kind, v in self.hints if kind == "retry"), default=0)


@dataclass(frozen=True)
class SourceCell:
    """A notebook cell as the compiler keeps it (no outputs)."""

    index: int
    cell_type: str
    source: str
    id: str | None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class NotebookInfo:
    """A source notebook: where it is, its parameters and its shared cells."""

    path: str  # relative to the pipeline root, posix separators
    cells: tuple[SourceCell, ...]
    parameters: tuple[Parameter, ...] = ()
    parameters_cell: int | None = None
    shared_cells: tuple[int, ...] = ()  # imports and functions cells, in order
    kernelspec: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    language_info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def folder(self) -> str:
        import posixpath

        return posixpath.dirname(self.path)

    def parameter(self, name: str) -> Parameter | None:
        for param in self.parameters:
            if param.name == name:
                return param
        return None


@dataclass(frozen=True)
class Pipeline:
    """The compiled pipeline: notebooks and steps in a stable (topological) order."""

    name: str
    notebooks: tuple[NotebookInfo, ...]
    steps: tuple[Step, ...]
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def notebook(self, path: str) -> NotebookInfo:
        for nb in self.notebooks:
            if nb.path == path:
                return nb
        raise KeyError(path)

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]
