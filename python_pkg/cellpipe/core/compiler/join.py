"""Notebooks -> :class:`Pipeline` plus every problem found. Pure: no file access.

The caller reads the notebooks (see :mod:`cellpipe.engine.project`) and passes their
JSON content with their paths relative to the pipeline root, and a predicate
telling whether a root-relative path exists (for ``in:`` files).
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cellpipe.core import graph
from cellpipe.core.compiler.dataflow import DataFlow, Learned
from cellpipe.core.compiler.files import FileHints
from cellpipe.core.compiler.structure import NotebookDraft, NotebookSource, Reader, StepDraft
from cellpipe.core.digest import digest_json
from cellpipe.core.parameters import metric_names, parse_parameters
from cellpipe.core.paths import overlaps
from cellpipe.core.tags import parse_tags
from cellpipe.model import (
    CellRef,
    Diagnostic,
    NotebookInfo,
    Pipeline,
    Step,
    VariableInput,
)

__all__ = ["CompileResult", "Learned", "NotebookSource", "compile_notebooks"]


@dataclass
class CompileResult:
    pipeline: Pipeline | None
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return self.pipeline is not None and not self.errors


class _Compiler(Reader, DataFlow, FileHints):
    """Reads each notebook, finds its data flow, then joins the notebooks."""

    # -- joining notebooks -----------------------------------------------------
    def join(self, drafts: list[NotebookDraft]) -> Pipeline | None:
        all_steps: list[StepDraft] = []
        where: dict[str, StepDraft] = {}
        for nb in drafts:
            for draft in nb.steps:
                if draft.name in where:
                    other = where[draft.name]
                    fix = "rename one of the two steps"
                    if draft.implicit or other.implicit:
                        untagged = draft if draft.implicit else other
                        fix = (f"{untagged.notebook} has no step tags, so its one step is named after the file: "
                               f"tag its first cell `step:NAME` with another name, or rename one of the files")
                    self.error("CP103", f"step name '{draft.name}' is used twice: here and in {other.notebook} "
                               f"cell {other.first_cell + 1}", draft.notebook, draft.first_cell, fix=fix)
                    continue
                where[draft.name] = draft
                all_steps.append(draft)

        names = [s.name for s in all_steps]
        deps: dict[str, list[str]] = {s.name: [] for s in all_steps}

        def add_dep(step: str, dep: str) -> None:
            if dep != step and dep not in deps[step]:
                deps[step].append(dep)

        writers: dict[str, tuple[StepDraft, int]] = {}
        for draft in all_steps:
            for out, cell in draft.outputs:
                if out in writers and writers[out][0].name != draft.name:
                    other, ocell = writers[out]
                    self.error("CP220", f"file '{out}' is written by step '{draft.name}' and by step '{other.name}' "
                               f"({other.notebook} cell {ocell + 1})", draft.notebook, cell,
                               fix="let one step write it, or give the two outputs different paths")
                    continue
                writers[out] = (draft, cell)

        for draft in all_steps:
            for producer in sorted(set(draft.var_inputs.values())):
                add_dep(draft.name, producer)
            for dep, cell in draft.after:
                if dep not in where:
                    close = difflib.get_close_matches(dep, names, n=1)
                    fix = f"did you mean 'after:{close[0]}'?" if close else f"known steps: {', '.join(names)}"
                    self.error("CP104", f"`after:{dep}` names a step that does not exist", draft.notebook, cell, fix=fix)
                    continue
                add_dep(draft.name, dep)
            for path, cell in draft.inputs:
                found = False
                for out, (writer, _) in writers.items():
                    if writer.name == draft.name:
                        continue
                    if overlaps(path, out):
                        add_dep(draft.name, writer.name)
                        found = True
                if not found and not self.exists(path):
                    own = any(overlaps(path, out) for out, _ in draft.outputs)
                    who = "only this step writes it (`out:`), so there is nothing to read on a first run" if own \
                        else "no step writes it"
                    self.error("CP230", f"input file '{path}' does not exist and {who}", draft.notebook, cell,
                               fix="create the file, correct the `in:` path (it is relative to the notebook's folder), "
                               "or tag the step that writes it with `out:`")

        _gate_deps(drafts, deps, add_dep)

        cycle = graph.find_cycle(names, deps)
        if cycle:
            first = where[cycle[0]]
            fix = ("remove one of these dependencies (an `after:` tag, a shared file, or a variable that "
                   "a step re-defines after a later step read it)")
            reentered = [where[n] for n in dict.fromkeys(cycle) if where[n].reentered]
            if reentered:
                step = reentered[0]
                fix = (f"step '{step.name}' is re-entered at cell {step.reentered[0] + 1} of {step.notebook} "
                       f"(a second `step:{step.name}` tag after other steps): give that part a step name of its "
                       "own, or " + fix)
            self.error("CP240", "the steps form a cycle: " + " -> ".join(cycle), first.notebook, first.first_cell,
                       fix=fix)
            return None
        ordered = graph.topological_order(names, deps)

        nb_by_path = {nb.info.path: nb for nb in drafts}
        steps: list[Step] = []
        for name in ordered:
            draft = where[name]
            nb = nb_by_path[draft.notebook]
            step_deps = tuple(d for d in ordered if d in deps[name])
            metrics: list[str] = []
            for i in draft.metric_cells:
                for m in metric_names(nb.info.cells[i].source):
                    if m not in metrics:
                        metrics.append(m)
            steps.append(
                Step(
                    name=name,
                    notebook=draft.notebook,
                    cells=tuple(CellRef(draft.notebook, i, nb.info.cells[i].id) for i in draft.cells),
                    code_hash=_code_hash(nb.info, draft),
                    parameters=tuple(sorted(draft.params)),
                    var_inputs=tuple(VariableInput(v, p) for v, p in sorted(draft.var_inputs.items())),
                    var_outputs=tuple(sorted(draft.outputs_vars)),
                    consumers=tuple((v, tuple(sorted(c))) for v, c in sorted(draft.outputs_vars.items())),
                    mutated_inputs=tuple(sorted(draft.mutated_inputs)),
                    file_inputs=tuple(dict.fromkeys(p for p, _ in draft.inputs)),
                    file_outputs=tuple(dict.fromkeys(p for p, _ in draft.outputs)),
                    after=tuple(dict.fromkeys(a for a, _ in draft.after if a in where)),
                    depends_on=step_deps,
                    metrics=tuple(metrics),
                    imports=tuple(draft.imports),
                    import_cells=tuple(draft.import_cells.get(stmt, -1) for stmt in draft.imports),
                    replayed=tuple(draft.replayed),
                    learned=tuple(sorted(draft.learned.items())),
                    nocache=draft.nocache,
                    hints=tuple(draft.hints),
                )
            )
        settings: dict[str, Any] = {}
        for nb in drafts:
            for key, value in nb.info.settings.items():
                settings.setdefault(key, value)
        name = settings.get("name") or (
            posixpath.splitext(posixpath.basename(drafts[0].info.path))[0] if drafts else "pipeline"
        )
        return Pipeline(name=str(name), notebooks=tuple(nb.info for nb in drafts), steps=tuple(steps),
                        settings=settings)


def _gate_deps(drafts: Sequence[NotebookDraft], deps: dict[str, list[str]],
               add_dep: Callable[[str, str], None]) -> None:
    """A step with a ``check`` cell gates the data it checks: a later step of its
    notebook that reads one of the same variables (from the same step) or the same
    ``in:`` file runs after it, so a failed check blocks it."""

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name == goal:
                return True
            if name not in seen:
                seen.add(name)
                todo.extend(deps.get(name, ()))
        return False

    for nb in drafts:
        cells = nb.info.cells
        gates = [d for d in nb.steps
                 if any(cells[i].cell_type == "code" and "check" in parse_tags(cells[i].metadata.get("tags")).roles
                        for i in d.code_cells)]
        for gate in gates:
            checked = set(gate.var_inputs.items())
            files = {p for p, _ in gate.inputs}
            for other in nb.steps:
                if other is gate or other.first_cell < gate.first_cell or other.name not in deps:
                    continue
                shares = checked & set(other.var_inputs.items()) or files & {p for p, _ in other.inputs}
                if shares and not reaches(gate.name, other.name):
                    add_dep(other.name, gate.name)


def _code_hash(nb: NotebookInfo, draft: StepDraft) -> str:
    """Hash of everything that is the step's code: its code cells, the shared
    cells and copied imports. Markdown, outputs and execution counts are not."""
    payload = {
        "shared": [nb.cells[i].source for i in nb.shared_cells],
        "imports": draft.imports,
        "cells": [nb.cells[i].source for i in draft.code_cells],
    }
    if draft.replayed:  # absent otherwise: keys of steps without replayed settings do not change
        payload["replayed"] = [statement for _, statement in draft.replayed]
    if nb.parameters_cell is not None:  # its lines that run in place are code of every step
        in_place = parse_parameters(nb.cells[nb.parameters_cell].source).code
        if in_place:  # absent otherwise: keys of literal-only parameters cells do not change
            payload["parameters_code"] = [nb.cells[nb.parameters_cell].source]
    return digest_json(payload)


def compile_notebooks(sources: Sequence[NotebookSource], exists: Callable[[str], bool] = lambda p: False,
                      learned: Learned | None = None) -> CompileResult:
    """Compile notebooks into one pipeline, collecting every problem on the way.

    ``learned`` holds what earlier runs saw and the analysis did not: notebook
    -> step -> variable it changes in place -> the run that saw it (see
    :meth:`cellpipe.engine.store.db.Database.learned`). Those steps are taken as
    changing those variables, like any change the analysis sees.
    """
    compiler = _Compiler(exists)
    compiler.learned = learned or {}
    drafts: list[NotebookDraft] = []
    seen: set[str] = set()
    for src in sources:
        if src.path in seen:
            compiler.warn("CP003", "the notebook is named twice; it is compiled once", src.path,
                          fix="name each notebook once")
            continue
        seen.add(src.path)
        nb = compiler.read_notebook(src)
        if nb is not None:
            compiler.analyze_flow(nb)
            compiler.hint_files(nb)
            drafts.append(nb)
    pipeline = compiler.join(drafts) if drafts else None
    diags = sorted(compiler.diags, key=_diag_key(sources))
    return CompileResult(pipeline, diags)


def _diag_key(sources: Sequence[NotebookSource]) -> Callable[[Diagnostic], tuple]:
    order = {s.path: i for i, s in enumerate(sources)}
    return lambda d: (order.get(d.notebook or "", len(order)), d.cell if d.cell is not None else -1,
                      d.severity != "error", d.code)
