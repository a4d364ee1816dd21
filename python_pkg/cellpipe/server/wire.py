"""The wire types of the REST API, declared with the names and fields of the
TypeScript interfaces in ``labextension/src/tokens.ts``; ``tests/test_wire.py``
fails when the two sides drift. The builders live beside the logic that fills
them (:mod:`.notebooks`, :mod:`.runs`, :func:`cellpipe.core.emit.manifest`).

A field typed ``X | None`` may be null; a field of a ``total=False`` class may be absent.
States are the values of :class:`cellpipe.model.StepState` and
:class:`cellpipe.model.RunState`.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from cellpipe.model import RunState, Severity, StepState

#: a JSON value (TypeScript ``JSONValue``)
JSONValue = Any


# ---------------------------------------------------------------- analyze


class IDiagnostic(TypedDict):
    severity: Severity
    code: str
    message: str
    notebook: str | None
    cell: int | None
    cell_number: int | None
    cell_id: str | None
    line: int | None
    fix: str


class IParameterSchema(TypedDict, total=False):
    #: absent: any value; else a JSON type or a list of them (``["string", "null"]``)
    type: str | list[str]


class _IParameterSpec(TypedDict):
    default: JSONValue
    schema: IParameterSchema


class IParameterSpec(_IParameterSpec, total=False):
    annotation: str
    literal: str


class IManifestNotebook(TypedDict):
    path: str
    parameters: dict[str, IParameterSpec]
    parameters_cell: int | None
    shared_cells: list[int]
    settings: dict[str, JSONValue]


class IStepCell(TypedDict):
    index: int
    number: int
    id: str | None
    type: str


#: a variable a step loads, and the step that produces it
IVariableInput = TypedDict("IVariableInput", {"name": str, "from": str})


class IVariableOutput(TypedDict):
    name: str
    to: list[str]


class IStepInputs(TypedDict):
    variables: list[IVariableInput]
    files: list[str]


class IStepOutputs(TypedDict):
    variables: list[IVariableOutput]
    files: list[str]


class IReplayedSetting(TypedDict):
    #: 1-based number of the earlier cell that made the setting
    cell: int
    statement: str


class ILearnedChange(TypedDict):
    #: the variable a run saw this step change in place, which the analysis did not
    name: str
    #: the run that learned it
    run: str


class IManifestStep(TypedDict):
    name: str
    notebook: str
    notebook_file: str
    cells: list[IStepCell]
    code_hash: str
    inputs: IStepInputs
    outputs: IStepOutputs
    changes_inputs: list[str]
    after: list[str]
    depends_on: list[str]
    parameters: list[str]
    metrics: list[str]
    imports: list[str]
    replays_settings: list[IReplayedSetting]
    learned_changes: list[ILearnedChange]
    nocache: bool
    hints: dict[str, JSONValue]


class IManifest(TypedDict):
    cellpipe_manifest: int
    name: str
    notebooks: list[IManifestNotebook]
    steps: list[IManifestStep]
    settings: dict[str, JSONValue]


class _IStepError(TypedDict):
    message: str
    notebook: str | None
    cell: int | None
    cell_id: str | None


class _ICheckResult(TypedDict):
    name: str
    passed: bool
    message: str


class ICheckResult(_ICheckResult, total=False):
    cell: int | None
    line: int | None
    details: dict[str, JSONValue]


class IStepAttempt(TypedDict):
    attempt: int
    message: str
    seconds: float | None
    output_notebook: str | None


class IStepError(_IStepError, total=False):
    ename: str | None
    evalue: str | None
    role: str | None
    checks: list[ICheckResult]
    line: int | None
    code: str | None
    traceback: list[str]
    attempts: list[IStepAttempt]


class IStepLastRun(TypedDict):
    state: StepState
    run_id: str
    error: IStepError | None
    output_notebook: str | None


class IAnalyzeResponse(TypedDict):
    path: str
    pipeline: IManifest | None
    diagnostics: list[IDiagnostic]
    steps: dict[str, IStepLastRun]
    ok: bool


# ---------------------------------------------------------------- compile


class ICompileResponse(TypedDict):
    output: str
    files: list[str]


# ---------------------------------------------------------------- export


class IExportResponse(TypedDict):
    """What an export wrote; ``path`` is root-relative."""

    path: str
    kind: str
    steps: int
    parameters: list[str]
    notes: list[str]


# ---------------------------------------------------------------- runs


class IRunStarted(TypedDict):
    run_id: str


class IMetric(TypedDict):
    step: str
    name: str
    value: JSONValue


class IRunRecord(TypedDict):
    id: str
    pipeline: str | None
    state: RunState
    started: float | None
    finished: float | None
    params: dict[str, dict[str, JSONValue]]
    metrics: list[IMetric]
    git_commit: str | None
    notebooks: list[str]
    error: str | None


class IRunsResponse(TypedDict):
    runs: list[IRunRecord]


class IStepRun(TypedDict):
    step: str
    notebook: str
    state: StepState
    started: float | None
    finished: float | None
    seconds: float | None
    error: IStepError | None
    output_notebook: str | None
    cached_from: str | None
    warnings: list[str]


class IRunDetail(TypedDict):
    run: IRunRecord
    steps: list[IStepRun]
    active: bool


class IActiveRun(TypedDict):
    """The run in progress for a notebook (``GET runs/active?path=P``), or null."""

    run: IRunDetail | None


class IRunDiff(TypedDict):
    a: str
    b: str
    params: dict[str, list[JSONValue]]
    metrics: dict[str, list[JSONValue]]
    artifacts: dict[str, list[JSONValue]]


# ---------------------------------------------------------------- dashboard


class IRunCheck(TypedDict):
    """One check result of a run's step (``check`` cells)."""

    step: str
    name: str
    passed: bool
    message: str


class IDashboardRun(TypedDict):
    run: IRunRecord
    #: the run's project folder, root-relative ("" for the root; null outside it)
    project: str | None
    #: the sweep this run is a trial of, and the trial's number
    sweep: str | None
    trial: int | None
    checks: list[IRunCheck]


class ISweepSummary(TypedDict):
    id: str
    kind: str
    state: str
    created: float
    trials: int
    objectives: list[dict[str, JSONValue]]


class IDashboard(TypedDict):
    scope: Literal["pipeline", "all"]
    runs: list[IDashboardRun]
    sweeps: list[ISweepSummary]


class IArtifactValue(TypedDict):
    hash: str
    size: int | None
    format: str | None


class IArtifact(TypedDict):
    step: str
    kind: str
    name: str
    hash: str
    size: int | None
    format: str | None


class IRunArtifacts(TypedDict):
    run_id: str
    artifacts: list[IArtifact]


class ICompareRow(TypedDict):
    name: str
    #: one value per compared run, in order (null where a run has none)
    values: list[JSONValue]
    changed: bool


class ICompareArtifact(TypedDict):
    step: str
    kind: str
    name: str
    values: list[IArtifactValue | None]
    changed: bool


class ICompareResponse(TypedDict):
    runs: list[IRunRecord]
    params: list[ICompareRow]
    metrics: list[ICompareRow]
    artifacts: list[ICompareArtifact]


class ITrace(TypedDict):
    """``cellpipe trace``'s answer: what made an artifact or a file's content."""

    #: the traced file (root-relative) or artifact name; null for a step's outputs
    path: str | None
    hash: str | None
    run: str
    step: str
    notebook: str
    started: float | None
    git_commit: str | None
    git_dirty: bool
    code_key: str | None
    code_cells: JSONValue
    parameters: JSONValue
    input_variables: JSONValue
    input_files: JSONValue
    files_read: JSONValue
    modules: JSONValue
    environment: JSONValue
    output_notebook: str | None


class IStepNotebook(TypedDict):
    path: str
    content: dict[str, JSONValue]


class _IError(TypedDict):
    message: str


class IError(_IError, total=False):
    diagnostics: list[IDiagnostic]


# ---------------------------------------------------------------- status


class IStepStatus(TypedDict):
    step: str
    notebook: str
    up_to_date: bool
    reason: str
    last_run: str | None


class _IStatusRequest(TypedDict):
    path: str


class IStatusRequest(_IStatusRequest, total=False):
    """``POST status``: the unsaved notebook and the parameters to compare with."""

    content: JSONValue
    params: dict[str, JSONValue]


class IStatusResponse(TypedDict):
    steps: list[IStepStatus]
