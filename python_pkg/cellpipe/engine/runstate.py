"""What a run is asked (:class:`RunOptions`) and what it reports: each step's
:class:`StepStatus` as it changes, and the :class:`RunResult`."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.engine.planner import PENDING
from cellpipe.model import StepState

#: the exit code of an interrupted run, as a shell reports death by SIGINT
EXIT_INTERRUPTED = 130
#: the exit code of a run whose checks failed (or a reproducibility comparison that differed)
EXIT_CHECK = 3


@dataclass
class RunOptions:
    """What the user asked of a run."""

    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # {notebook: {name: value}}
    jobs: int = 0  # 0: the machine's cores
    only: list[str] = field(default_factory=list)
    from_steps: list[str] = field(default_factory=list)
    force: bool = False
    wait: float = 0.0
    argv: list[str] = field(default_factory=list)
    run_id: str | None = None
    #: a shared cache (URL) a step's key is looked up in when the store has no entry
    cache_from: str | None = None
    #: the executor's registered name, and its options (local: warm_kernels, fork_kernels)
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)
    #: seconds any step may run (a step's ``timeout:`` tag wins); None: no limit
    timeout_step: float | None = None


@dataclass
class StepStatus:
    """One step's state in a run, as the progress display, ``--json`` and the store see it."""

    name: str
    notebook: str
    state: str = PENDING
    reason: str = ""
    started: float | None = None
    finished: float | None = None
    error: dict[str, Any] | None = None
    output_notebook: str | None = None
    log: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    key: str | None = None
    parts: dict[str, Any] | None = None
    cached_from: str | None = None
    selected: bool = True
    #: the step's checks (cellpipe.engine.checks): passed ones, and on check_failed the failed ones too
    checks: list[dict[str, Any]] = field(default_factory=list)
    #: earlier attempts of a step tagged ``retry:N`` that failed: attempt, message, seconds, output notebook
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: where an executed step's time went (:mod:`cellpipe.engine.timings`); ``{"cached": True}`` when reused
    timings: dict[str, Any] | None = None

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name, "notebook": self.notebook, "state": self.state, "reason": self.reason,
            "seconds": None if self.seconds is None else round(self.seconds, 3), "error": self.error,
            "output_notebook": self.output_notebook, "metrics": self.metrics, "warnings": self.warnings,
            "cached_from": self.cached_from, "checks": self.checks, "attempts": self.attempts,
            "timings": self.timings,
        }


@dataclass
class RunResult:
    """What a run did: its final state and every step's status."""

    run_id: str
    state: str
    steps: dict[str, StepStatus]
    run_folder: Path

    #: a Ctrl-C or SIGTERM arrived (also one that came while the run was finishing)
    signalled: bool = False

    @property
    def exit_code(self) -> int:
        """0 succeeded, 1 a step failed, 3 only checks failed (no step crashed), 130
        interrupted (whenever the signal came)."""
        if self.state == "interrupted" or self.signalled:
            return EXIT_INTERRUPTED
        if self.state == "succeeded":
            return 0
        states = {s.state for s in self.steps.values()}
        if StepState.CHECK_FAILED in states and not states & {StepState.FAILED, StepState.INTERRUPTED}:
            return EXIT_CHECK
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "state": self.state, "exit_code": self.exit_code,
                "run_folder": str(self.run_folder), "steps": [s.to_dict() for s in self.steps.values()]}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime()) + "-" + secrets.token_hex(2)

