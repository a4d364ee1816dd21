"""The wire types of the REST API, named like the TypeScript interfaces in
``labextension/src/tokens.ts``. The JSON shapes are documented in
:mod:`cellpipe.server.handlers`; the builders live beside the logic that fills
them (:mod:`.notebooks`, :mod:`.runs`)."""

from __future__ import annotations

from typing import Any, TypedDict


class IStepError(TypedDict, total=False):
    message: str
    ename: str | None
    evalue: str | None
    role: str | None
    notebook: str | None
    cell: int | None
    cell_id: str | None


class IStepState(TypedDict):
    state: str
    run_id: str
    error: IStepError | None
    output_notebook: str | None


class IAnalysis(TypedDict):
    path: str
    pipeline: dict[str, Any] | None
    diagnostics: list[dict[str, Any]]
    steps: dict[str, IStepState]
    ok: bool


class ICompileResult(TypedDict):
    output: str
    files: list[str]


class IRunStarted(TypedDict):
    run_id: str


class IMetric(TypedDict):
    step: str
    name: str
    value: Any


class IRunRecord(TypedDict):
    id: str
    pipeline: str | None
    state: str
    started: float | None
    finished: float | None
    params: dict[str, dict[str, Any]]
    metrics: list[IMetric]
    git_commit: str | None
    notebooks: list[str]
    error: str | None


class IRunList(TypedDict):
    runs: list[IRunRecord]


class IStepRun(TypedDict):
    step: str
    notebook: str
    state: str
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


class IStepNotebook(TypedDict):
    path: str
    content: dict[str, Any]


class IStatus(TypedDict):
    steps: list[dict[str, Any]]


class IError(TypedDict, total=False):
    message: str
    diagnostics: list[dict[str, Any]]
