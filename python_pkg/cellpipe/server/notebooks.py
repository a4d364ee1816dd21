"""Analyze, compile and check one notebook under the server's root: the
panel's Validate and Compile buttons and its step states. The analyzer is the
compiler's own (:func:`cellpipe.core.compiler.join.compile_notebooks`); nothing here
re-checks a notebook."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from cellpipe.core.compiler import NotebookSource, compile_notebooks
from cellpipe.core.emit import manifest
from cellpipe.core.overrides import resolve
from cellpipe.engine.project import learned_changes, read_source, write_build
from cellpipe.engine.project import rel as project_relative
from cellpipe.engine.status import status
from cellpipe.engine.store import Store
from cellpipe.errors import CellpipeError, PipelineInvalid
from cellpipe.model import Diagnostic, Pipeline
from cellpipe.server.paths import NotFound, confine, exists_under, is_file, notebook_file, relative
from cellpipe.server.records import last_states, open_store, project_root
from cellpipe.server.wire import (
    IAnalyzeResponse,
    ICompileResponse,
    IDiagnostic,
    IManifest,
    IStatusResponse,
    IStepStatus,
)

#: the compiler's code for "this file cannot be read as a notebook"
UNREADABLE = "CP001"


class NotANotebook(CellpipeError):
    """The content sent (or the file on disk) is not an nbformat 4 notebook;
    the message is the analyzer's own."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = next(d for d in self.diagnostics if d.code == UNREADABLE)
        super().__init__(first.message)


def load_pipeline(root: Path, path: str, content: Any = None) -> tuple[Pipeline, str, Path]:
    """The pipeline of the notebook saved at ``path`` (or of its unsaved ``content``),
    its root-relative name and its project root (where its store is);
    PipelineInvalid lists its errors."""
    if content is None:
        file, rel = notebook_file(root, path)
        project = project_root(file)
        source = read_source(file, project)
    else:
        file = confine(root, path)
        rel = relative(file, root)
        project = project_root(file)
        source = NotebookSource(project_relative(file, project), content)
    result = compile_notebooks([source], exists=exists_under(project), learned=learned_changes(project))
    if not result.ok or result.pipeline is None:
        raise PipelineInvalid(result.diagnostics)
    return result.pipeline, rel, project


def analyze(root: Path, path: str, content: Any = None) -> IAnalyzeResponse:
    """Diagnostics, manifest and last-run step states for a notebook: the unsaved
    ``content`` from the editor when given, else the saved file."""
    file = confine(root, path)
    rel = relative(file, root)
    project = project_root(file)
    if content is None:
        if not is_file(file):
            raise NotFound(f"no notebook {path!r} under the server's root")
        source = read_source(file, project)
    else:
        source = NotebookSource(project_relative(file, project), content)
    result = compile_notebooks([source], exists=exists_under(project), learned=learned_changes(project))
    if any(d.code == UNREADABLE for d in result.diagnostics):
        raise NotANotebook(result.diagnostics)
    steps = {}
    if result.pipeline is not None:
        with open_store(project) as store:
            if store is not None:
                steps = last_states(store, result.pipeline, root)
    return {
        "path": rel,
        "pipeline": cast(IManifest, manifest(result.pipeline)) if result.pipeline is not None else None,
        "diagnostics": [cast(IDiagnostic, d.to_dict()) for d in result.diagnostics],
        "steps": steps,
        "ok": result.ok,
    }


def compile_build(root: Path, path: str, output: str = "build") -> ICompileResponse:
    """Write ``pipeline.json`` and the step notebooks into ``output`` (root-relative)."""
    out = confine(root, output)
    pipeline, _, project = load_pipeline(root, path)
    written = write_build(pipeline, out, project)
    return {"output": relative(out, root), "files": [relative(p, root) for p in written]}


def step_status(root: Path, path: str, params: dict[str, Any] | None = None,
                content: Any = None) -> IStatusResponse:
    """``cellpipe status`` for one notebook: each step up to date or stale, and why.
    With ``content`` (the editor's unsaved notebook) the answer is for what a run
    would see once the notebook is saved, as the panel shows it.

    Before the first run there is no store; the answer then comes from an empty
    store in a temporary folder, so that asking never creates ``.cellpipe/``.
    """
    pipeline, _, project = load_pipeline(root, path, content)
    values = resolve(pipeline, params or {})
    with open_store(project) as store:
        if store is not None:
            reports = status(pipeline, project, store, values)
        else:
            with tempfile.TemporaryDirectory(prefix="cellpipe-status-") as tmp:
                empty = Store(Path(tmp))
                try:
                    reports = status(pipeline, project, empty, values)
                finally:
                    empty.close()
    return {"steps": [cast(IStepStatus, r.to_dict()) for r in reports]}
