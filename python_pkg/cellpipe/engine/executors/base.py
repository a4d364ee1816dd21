"""The seam between the runner and whatever runs a step: the :class:`Executor` protocol.

The runner decides (with the planner) what runs; an executor runs it. It is
handed a step with its parameters and where its inputs are (the object hashes
of its producers' outputs, in the store), streams what happens to it
(:class:`StepEvent`), can cancel it, and hands back the output notebook, the
outputs (stored, by hash) and the metrics. It never decides what runs next:
the failure and interrupt policy are the runner's.

Executors are found by name in a registry (:mod:`cellpipe.engine.executors`),
open to the ``cellpipe.executors`` entry point group, like papermill's engines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cellpipe.engine.store import Store
    from cellpipe.model import Pipeline, Step


@dataclass(frozen=True)
class RunContext:
    """What an executor needs to know about the run it serves."""

    run_id: str
    pipeline: Pipeline
    root: Path  # the project's root: notebooks' folders, ``in:``/``out:`` files
    store: Store
    run_folder: Path  # output notebooks and logs go here
    jobs: int  # steps the runner keeps in flight at most
    #: modules the pipeline's code imports (for executors that preload them); asked only when needed
    preload: Callable[[], list[str]] = list


@dataclass(frozen=True)
class StepTask:
    """One step to run."""

    step: Step
    #: parameter values that differ from the notebook's defaults (the step notebook keeps its literals)
    parameters: dict[str, Any]
    #: producer step -> its outputs as recorded in the store (variables with object hashes)
    inputs: dict[str, dict[str, Any]]
    output_notebook: Path
    log: Path
    kernel_name: str = "python3"


@dataclass
class StepResult:
    """A finished step's outputs, already in the store."""

    outputs: dict[str, Any]  # {"variables": {name: artifact}, "files": {path: artifact}}
    metrics: dict[str, Any] = field(default_factory=dict)
    #: input variables the step changed in place (a mutation the analysis did not see)
    changed_inputs: list[str] = field(default_factory=list)
    #: files the step read without declaring them (root-relative, or absolute outside the root)
    files_read: list[str] = field(default_factory=list)
    #: the checks the step made (all passed: a failed one fails the step)
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StepFailure(Exception):
    """A step did not produce its outputs; ``cell`` is the failing cell of the output notebook."""

    message: str
    ename: str = ""
    evalue: str = ""
    cell: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


#: ``cancelled``: the step stopped because the runner cancelled it
CANCELLED = "cancelled"


@dataclass(frozen=True)
class StepEvent:
    """Something that happened to a submitted step.

    ``running``: it started on ``where`` (a kernel, a worker); executors that start
    steps at once may never say so. ``finished``: ``result`` or ``failure`` is set.
    """

    step: str
    state: Literal["running", "finished"]
    result: StepResult | None = None
    failure: StepFailure | None = None
    #: when it happened, as the executor saw it (0: when the runner hears of it)
    at: float = 0.0
    where: str = ""
    #: seconds per phase the executor measured (kernel, load, code, save: :mod:`cellpipe.engine.timings`)
    timings: dict[str, float] = field(default_factory=dict)


class InputUnavailable(Exception):
    """An input of the step is corrupt or gone from the store: ``producer`` must run again."""

    def __init__(self, producer: str) -> None:
        super().__init__(producer)
        self.producer = producer


@runtime_checkable
class Executor(Protocol):
    """Runs steps for the runner. Calls come from the runner's thread only."""

    def open(self, context: RunContext) -> None:
        """The run starts. Cheap: expensive set-up waits for the first :meth:`submit`."""
        ...

    def submit(self, task: StepTask) -> None:
        """Start the step (without waiting for it). Raises :class:`InputUnavailable`."""
        ...

    def poll(self, timeout: float) -> list[StepEvent]:
        """What happened since the last call, waiting up to ``timeout`` s for something."""
        ...

    def cancel(self, step: str) -> None:
        """Interrupt the step; it then finishes with a ``cancelled`` failure."""
        ...

    def kill(self, step: str) -> None:
        """Stop a step that ignored :meth:`cancel`, now; no event follows."""
        ...

    def close(self, keep_scratch: bool = True) -> None:
        """The run is over: release kernels, workers, scratch space (unless kept for a look)."""
        ...

    # An executor may also offer ``prepare(kernel_name: str) -> None`` (not part of the
    # protocol, so that executors without it still satisfy it): called after :meth:`open`
    # when a step is sure to run, to get ready (start kernels) while the run is recorded.


def failing_cell(output_notebook: Path) -> dict[str, Any] | None:
    """The first code cell of an executed notebook whose outputs hold an error."""
    try:
        nb = json.loads(output_notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                return cell
    return None
