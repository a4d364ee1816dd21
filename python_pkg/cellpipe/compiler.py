"""Notebooks -> :class:`Pipeline` plus every problem found. Pure: no file access.

The caller reads the notebooks (see :mod:`cellpipe.project`) and passes their
JSON content with their paths relative to the pipeline root, and a predicate
telling whether a root-relative path exists (for ``in:`` files).
"""

from __future__ import annotations

import ast
import bisect
import difflib
import hashlib
import json
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import analysis, graph
from .analysis import KERNEL_NAMES, CodeFacts
from .model import (
    CellRef,
    Diagnostic,
    NotebookInfo,
    Parameter,
    Pipeline,
    Severity,
    SourceCell,
    Step,
    VariableInput,
)
from .parameters import metric_names, parse_parameters
from .tags import CellTags, parse_tags, suggest_step_name


@dataclass(frozen=True)
class NotebookSource:
    """A notebook handed to the compiler: its root-relative path and JSON content."""

    path: str
    content: Any
    #: why the file could not be read (missing, not JSON); set by the reader
    read_error: str | None = None


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


# -- reading the notebook structure -------------------------------------------


def _source_text(source: Any) -> str:
    if isinstance(source, list):
        return "".join(str(s) for s in source)
    return source if isinstance(source, str) else ""


def _structure_problem(content: Any) -> str | None:
    """Why ``content`` is not an nbformat 4 notebook cellpipe can read, or None."""
    if not isinstance(content, dict):
        return "is not a notebook: the file is JSON, but not a JSON object"
    if "nbformat" not in content and "cells" not in content:
        return "is not a notebook: the JSON object has no 'nbformat' version and no 'cells' list"
    major = content.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        return f"is not a valid notebook: its 'nbformat' version is {major!r}, not a number"
    if major < 4:
        return f"is nbformat {major}; cellpipe reads nbformat 4 (open and save it in JupyterLab to upgrade)"
    meta = content.get("metadata", {})
    if not isinstance(meta, dict):
        return "is not a valid notebook: its 'metadata' is not an object"
    for key in ("kernelspec", "language_info", "cellpipe", "kubeflow_notebook"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            return f"is not a valid notebook: 'metadata.{key}' is not an object"
    cells = content.get("cells")
    if not isinstance(cells, list):
        return "is not a valid notebook: it has no 'cells' list"
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return f"is not a valid nbformat notebook: cell {i + 1} has a missing or unknown cell_type"
        if not isinstance(cell.get("metadata", {}), dict):
            return f"is not a valid nbformat notebook: cell {i + 1} has metadata that is not an object"
        source = cell.get("source")
        if not (isinstance(source, str) or (isinstance(source, list) and all(isinstance(x, str) for x in source))):
            return f"is not a valid nbformat notebook: cell {i + 1} has no source text"
    return None


def _read_error_fix(reason: str) -> str:
    """The fix for a notebook that could not be read, by the reader's reason."""
    if reason.startswith("does not exist"):
        return "check the notebook's path (it is relative to the current folder)"
    if reason.startswith("is a folder"):
        return "name the notebook files in the folder, e.g. `folder/*.ipynb`"
    return "open the notebook in JupyterLab and save it, or restore it from version control"


def _language(content: dict) -> str:
    meta = content.get("metadata") or {}
    lang = (meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {}).get(
        "name"
    )
    return str(lang or "python").lower()


@dataclass
class _StepDraft:
    name: str
    notebook: str
    first_cell: int
    cells: list[int] = field(default_factory=list)  # every cell, markdown included
    code_cells: list[int] = field(default_factory=list)
    metric_cells: list[int] = field(default_factory=list)
    after: list[tuple[str, int]] = field(default_factory=list)
    inputs: list[tuple[str, int]] = field(default_factory=list)  # (root path, cell)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    nocache: bool = False
    hints: list[tuple[str, str]] = field(default_factory=list)
    #: cells whose `step:NAME` tag comes back to this step after another step
    reentered: list[int] = field(default_factory=list)
    #: the one step of a notebook without step tags, named after the file
    implicit: bool = False
    # filled by the analysis
    params: set[str] = field(default_factory=set)
    var_inputs: dict[str, str] = field(default_factory=dict)  # var -> producer
    mutated_inputs: set[str] = field(default_factory=set)
    imports: list[str] = field(default_factory=list)
    outputs_vars: dict[str, set[str]] = field(default_factory=dict)  # var -> consumers


@dataclass
class _NotebookDraft:
    info: NotebookInfo
    tags: list[CellTags]
    steps: list[_StepDraft]
    facts: dict[int, CodeFacts]
    cell_step: dict[int, str]
    skipped: list[int] = field(default_factory=list)  # code cells tagged `skip`


class _Compiler:
    def __init__(self, exists: Callable[[str], bool]) -> None:
        self.exists = exists
        self.diags: list[Diagnostic] = []
        #: (notebook, cell index) -> the cell's nbformat id, so that every
        #: diagnostic can be linked to its cell
        self.cell_ids: dict[tuple[str, int], str | None] = {}
        self.reentry_reported: set[tuple[str, str]] = set()

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

    # -- one notebook ----------------------------------------------------------
    def read_notebook(self, src: NotebookSource) -> _NotebookDraft | None:
        path = src.path
        if src.read_error:
            self.error("CP001", f"the notebook {src.read_error}", path, fix=_read_error_fix(src.read_error))
            return None
        problem = _structure_problem(src.content)
        if problem:
            self.error("CP001", f"this file {problem}", path,
                       fix="open the notebook in JupyterLab and save it, or restore it from version control")
            return None
        content: dict = src.content
        if _language(content) != "python":
            self.error("CP002", f"the notebook's kernel language is {_language(content)!r}; cellpipe compiles Python notebooks", path,
                       fix="use a Python kernel")
            return None

        cells: list[SourceCell] = []
        tags: list[CellTags] = []
        for i, raw in enumerate(content["cells"]):
            meta = raw.get("metadata") or {}
            cell = SourceCell(i, raw["cell_type"], _source_text(raw.get("source", "")), raw.get("id"), meta)
            cells.append(cell)
            self.cell_ids[(path, i)] = cell.id if isinstance(cell.id, str) else None
            parsed = parse_tags(meta.get("tags"))
            if raw["cell_type"] != "code":
                # markdown carries no code: it has no metrics to record
                parsed = replace(parsed, roles=parsed.roles - {"metrics"})
            tags.append(parsed)
            for problem in parsed.problems:
                code = "CP102" if problem.message.startswith("bad step name") else "CP101"
                self.error(code, problem.message, path, i, fix=problem.fix, cell_id=cell.id)

        has_steps = any(t.step for t in tags)
        file_stem = posixpath.splitext(posixpath.basename(path))[0]
        default_step = suggest_step_name(file_stem)

        steps: dict[str, _StepDraft] = {}
        order: list[str] = []
        cell_step: dict[int, str] = {}
        pending: list[int] = []  # cells before the first step
        pending_code: list[int] = []
        context: str | None = None if has_steps else default_step
        params_cell: int | None = None
        shared: list[int] = []
        skipped: list[int] = []
        facts: dict[int, CodeFacts] = {}

        def step_for(name: str, cell: int) -> _StepDraft:
            if name not in steps:
                steps[name] = _StepDraft(name, path, cell)
                order.append(name)
            return steps[name]

        for cell, t in zip(cells, tags, strict=True):
            i = cell.index
            if t.step:
                if t.step in steps and t.step != context:
                    steps[t.step].reentered.append(i)
                context = t.step
            if cell.cell_type != "code":
                if t.role == "skip":
                    continue
                if context is None:
                    pending.append(i)
                else:
                    draft = step_for(context, i)
                    draft.cells.append(i)
                    self._add_to_step(draft, t, None, path, index=i)
                    cell_step[i] = context
                continue
            if t.injected_parameters:
                self.warn("CP110", "papermill's injected-parameters cell is ignored", path, i,
                          fix="delete the cell: it is a papermill output, not source", cell_id=cell.id)
                continue
            role = t.role
            if role == "skip":
                skipped.append(i)
                continue
            if role == "parameters":
                if params_cell is not None:
                    self.error("CP120", f"a second parameters cell (the first is cell {params_cell + 1})", path, i,
                               fix="merge the two into one cell tagged `parameters`", cell_id=cell.id)
                    continue
                params_cell = i
                self._attach_step_tags(t, context, steps, path, i, step_for)
                continue
            if role in ("imports", "functions"):
                shared.append(i)
                self._attach_step_tags(t, context, steps, path, i, step_for)
                continue
            if context is None:
                pending.append(i)
                pending_code.append(i)
                continue
            draft = step_for(context, i)
            self._add_to_step(draft, t, cell, path)
            cell_step[i] = context

        if pending:
            if order:
                first = steps[order[0]]
                first.cells[:0] = pending
                code = [i for i in pending if i in pending_code]
                first.code_cells[:0] = code
                for i in pending:
                    cell_step[i] = first.name
                if code:
                    self.warn("CP111", f"cell {code[0] + 1} comes before the first step tag; it joins step '{first.name}'",
                              path, code[0], fix=f"tag it `step:{first.name}`, `imports`, `functions` or `skip` to say so",
                              cell_id=cells[code[0]].id)
                for i in pending:
                    self._add_to_step(first, tags[i], None, path, index=i)
            else:
                for i in pending:
                    cell_step[i] = default_step
                draft = step_for(default_step, pending[0])
                draft.cells = pending
                draft.code_cells = [i for i in pending if i in pending_code]
                for i in pending:
                    self._add_to_step(draft, tags[i], None, path, index=i)

        for name in list(order):
            draft = steps[name]
            draft.implicit = not has_steps
            if not any(cells[i].source.strip() and not _only_comments(cells[i].source) for i in draft.code_cells):
                if draft.implicit:  # nothing to run, and no tag asked for a step: not an error
                    order.remove(name)
                    cell_step.clear()
                    continue
                cell = draft.first_cell
                self.error("CP130", f"step '{name}' has no code", path, cell,
                           fix=f"add code to the step, or remove the `step:{name}` tag", cell_id=cells[cell].id)
        if not order:
            self.warn("CP131", "the notebook has no code outside `parameters`, `imports`, `functions` and `skip` "
                      "cells: it adds no step to the pipeline", path,
                      fix="add code cells, tag one `step:NAME`, or leave the notebook out of the pipeline")

        # parameters
        parameters: list[Parameter] = []
        if params_cell is not None:
            parsed = parse_parameters(cells[params_cell].source)
            for p in parsed.problems:
                self.error("CP121", f"parameters cell: {p.message}", path, params_cell, fix=p.fix, line=p.line,
                           cell_id=cells[params_cell].id)
            by_name: dict[str, Parameter] = {}
            for p in parsed.params:  # a name assigned twice takes its last value, as running the cell would
                if p.name in by_name:
                    self.warn("CP122", f"parameter `{p.name}` is assigned twice (lines {by_name[p.name].line} and "
                              f"{p.line}); like Python, cellpipe takes the last value, {p.default!r}, as its default",
                              path, params_cell, line=p.line, fix="keep one assignment per parameter")
                by_name.pop(p.name, None)
                by_name[p.name] = Parameter(p.name, p.default, p.schema, path, params_cell, p.line, p.annotation, p.literal)
            parameters = list(by_name.values())

        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and (i in cell_step or i in shared):
                f = analysis.analyze(cell.source)
                if f.syntax_error:
                    line, msg = f.syntax_error
                    self.error("CP140", f"syntax error: {msg}", path, i, line=line,
                               fix="fix the Python syntax (the cell must run in a kernel)", cell_id=cell.id)
                facts[i] = f

        meta = content.get("metadata") or {}
        settings = dict(meta.get("cellpipe") or {})
        kale = meta.get("kubeflow_notebook") or {}
        if kale.get("pipeline_name") and "name" not in settings:
            settings["name"] = kale["pipeline_name"]
        if kale.get("docker_image") and "image" not in settings:
            settings["image"] = kale["docker_image"]
        info = NotebookInfo(
            path=path,
            cells=tuple(cells),
            parameters=tuple(parameters),
            parameters_cell=params_cell,
            shared_cells=tuple(shared),
            kernelspec=dict(meta.get("kernelspec") or {"name": "python3", "display_name": "Python 3", "language": "python"}),
            language_info=dict(meta.get("language_info") or {"name": "python"}),
            settings=settings,
        )
        return _NotebookDraft(info, tags, [steps[n] for n in order], facts, cell_step, skipped)

    def _attach_step_tags(self, t: CellTags, context, steps, path, i, step_for) -> None:
        if not (t.after or t.inputs or t.outputs or t.nocache or t.hints):
            return
        if context is None:
            self.warn("CP112", "in:/out:/after:/nocache tags on a shared or parameters cell before any step are ignored",
                      path, i, fix="move these tags to a cell of the step they describe")
            return
        self._add_to_step(step_for(context, i), t, None, path, index=i)

    def _add_to_step(self, draft: _StepDraft, t: CellTags, cell: SourceCell | None, path: str,
                     position_only: bool = False, index: int | None = None) -> None:
        i = cell.index if cell is not None else index
        assert i is not None
        if cell is not None and not position_only:
            draft.cells.append(i)
            draft.code_cells.append(i)
        if "metrics" in t.roles:
            draft.metric_cells.append(i)
        folder = posixpath.dirname(path)
        draft.after.extend((a, i) for a in t.after)
        draft.inputs.extend((_join(folder, p), i) for p in t.inputs)
        draft.outputs.extend((_join(folder, p), i) for p in t.outputs)
        draft.nocache = draft.nocache or t.nocache
        draft.hints.extend(t.hints)

    # -- data flow inside one notebook ----------------------------------------
    def analyze_flow(self, nb: _NotebookDraft) -> None:
        path = nb.info.path
        cells = nb.info.cells
        params = {p.name for p in nb.info.parameters}
        shared_binds: set[str] = set()
        shared_modules: set[str] = set()
        star = False
        for i in nb.info.shared_cells:
            f = nb.facts.get(i, CodeFacts())
            shared_binds |= f.binds
            shared_modules |= {name for name, _ in f.imports}
            star = star or f.star_import
        # shared cells run in every step: what they read when they run, every step
        # needs; what a shared function reads, only the steps that call it
        eager_reads, shared_uses = _shared_uses([cells[i].source for i in nb.info.shared_cells])

        # who touches (binds or changes) each name, in notebook order
        touches: dict[str, list[tuple[int, str]]] = {}
        import_only: dict[str, bool] = {}
        for i in sorted(nb.cell_step):
            f = nb.facts.get(i)
            if f is None:
                continue
            imports = dict(f.imports)
            for name in f.touches:
                touches.setdefault(name, []).append((i, nb.cell_step[i]))
            for name in f.binds:
                import_only[name] = import_only.get(name, True) and name in imports
        positions = {name: [p for p, _ in lst] for name, lst in touches.items()}
        module_names = {n for n, only in import_only.items() if only}
        import_stmt: dict[tuple[int, str], str] = {}
        for i, f in nb.facts.items():
            for name, stmt in f.imports:
                import_stmt[(i, name)] = stmt
        warned_imports: set[str] = set()
        steps_by_name = {s.name: s for s in nb.steps}

        for draft in nb.steps:
            bound: set[str] = set()
            calls = set(eager_reads)  # the shared names this step uses, and what shared code reads as it runs
            for i in draft.code_cells:
                f = nb.facts.get(i)
                if f is not None:
                    calls.update(n for n in (*f.reads, *f.late_reads) if n in shared_uses)
            draft.params.update(_reachable(calls, shared_uses) & params)
            late: dict[str, int] = {}
            step_star = star
            own: dict[str, int] = {}  # the step's last cell that bound or changed each name
            for i in draft.code_cells:
                f = nb.facts.get(i)
                if f is None:
                    continue
                step_star = step_star or f.star_import
                for name in f.reads:
                    if name not in bound:
                        self._need(nb, draft, name, i, params, shared_binds, touches, positions, module_names,
                                   import_stmt, warned_imports, steps_by_name, star=step_star)
                    elif name in own and name not in module_names:
                        self._check_reentry(nb, draft, name, own[name], i, touches)
                for name in f.late_reads:
                    late.setdefault(name, i)
                bound |= f.binds
                own.update(dict.fromkeys(f.touches, i))
                for name in f.mutates:
                    if name in draft.var_inputs and name not in bound:
                        draft.mutated_inputs.add(name)
                changed_shared = (f.binds & (params | shared_binds)) | (
                    f.mutates & (params | shared_binds) - shared_modules - module_names
                )
                for name in sorted(changed_shared):
                    if name not in module_names:
                        kind = "parameter" if name in params else "shared name"
                        self.warn("CP150", f"step '{draft.name}' changes the {kind} `{name}`; later steps see the "
                                  f"{kind}'s own value, not this change", path, i, line=f.line_of(name),
                                  fix=f"give the changed value a new name (e.g. `{name}_2`)", cell_id=cells[i].id)
            for name, i in late.items():
                if name not in bound:
                    self._need(nb, draft, name, i, params, shared_binds, touches, positions, module_names,
                               import_stmt, warned_imports, steps_by_name, star=step_star, late=True)

    def _check_reentry(self, nb: _NotebookDraft, draft: _StepDraft, name: str, own: int, cell: int,
                       touches: dict[str, list[tuple[int, str]]]) -> None:
        """A re-entered step reads ``name`` it set itself, but another step set or
        changed it in between: top to bottom, the notebook would see that value."""
        between = [(p, s) for p, s in touches.get(name, []) if own < p < cell and s != draft.name]
        if not between or (draft.name, name) in self.reentry_reported:
            return
        self.reentry_reported.add((draft.name, name))
        pos, other = between[-1]
        rebinds = name in nb.facts[pos].binds
        message = (f"step '{draft.name}' uses `{name}` from its own cell {own + 1}, but step '{other}' "
                   f"{'sets it again' if rebinds else 'may change it in place'} in cell {pos + 1}, in between: "
                   "the compiled step would not see that change")
        fix = (f"give the cells of '{draft.name}' from cell {cell + 1} a step name of their own, "
               f"or rename `{name}` in one of the two steps")
        line = _first_line(nb.info.cells[cell].source, name)
        if rebinds:
            self.error("CP202", message, nb.info.path, cell, fix=fix, line=line)
        else:
            self.warn("CP203", message, nb.info.path, cell, fix=fix, line=line)

    def _need(self, nb, draft: _StepDraft, name: str, cell: int, params, shared_binds, touches, positions,
              module_names, import_stmt, warned_imports, steps_by_name, star: bool, late: bool = False) -> None:
        path = nb.info.path
        if name in params:
            draft.params.add(name)
            return
        if name in shared_binds or name in KERNEL_NAMES or name in draft.var_inputs:
            return
        producer: tuple[int, str] | None = None
        lst = touches.get(name, [])
        idx = bisect.bisect_left(positions.get(name, []), cell)
        for pos, step in reversed(lst[:idx]):
            if step != draft.name:
                producer = (pos, step)
                break
        if producer is None:
            if star or late:
                return
            later = [(p, s) for p, s in lst if p > cell and s != draft.name]
            hint = ""
            skipped = [i for i in nb.skipped if i < cell and name in analysis.analyze(nb.info.cells[i].source).binds]
            if skipped:
                hint = f" (it is set in cell {skipped[-1] + 1}, which is tagged `skip`)"
                later = []
            elif later:
                hint = f" (it is first set later, in step '{later[0][1]}', cell {later[0][0] + 1})"
            self.error("CP201", f"step '{draft.name}' uses `{name}`, which no earlier step or shared cell defines{hint}",
                       path, cell, line=_first_line(nb.info.cells[cell].source, name),
                       fix="define it in an earlier step or in a `parameters`, `imports` or `functions` cell"
                       + (", or move that cell above this one" if later else "")
                       + (", or remove the `skip` tag from that cell" if skipped else ""),
                       cell_id=nb.info.cells[cell].id)
            return
        pos, step = producer
        if name in module_names:
            # the producer may only have used the module (`plt.figure()`); copy the import that bound it
            origin = next(((p, s) for p, s in reversed(lst[:idx]) if (p, name) in import_stmt), producer)
            stmt = import_stmt.get((origin[0], name))
            if stmt and stmt not in draft.imports:
                draft.imports.append(stmt)
            if name not in warned_imports:
                warned_imports.add(name)
                self.warn("CP210", f"`{name}` is imported in step '{origin[1]}' and used by step '{draft.name}'; "
                          "cellpipe repeats the import in each step that uses it", path, origin[0],
                          fix="move the import into a cell tagged `imports`, so that every step shares it")
            return
        draft.var_inputs[name] = step
        steps_by_name[step].outputs_vars.setdefault(name, set()).add(draft.name)

    # -- joining notebooks -----------------------------------------------------
    def join(self, drafts: list[_NotebookDraft]) -> Pipeline | None:
        all_steps: list[_StepDraft] = []
        where: dict[str, _StepDraft] = {}
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

        writers: dict[str, tuple[_StepDraft, int]] = {}
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
                    if _overlaps(path, out):
                        add_dep(draft.name, writer.name)
                        found = True
                if not found and not self.exists(path):
                    own = any(_overlaps(path, out) for out, _ in draft.outputs)
                    who = "only this step writes it (`out:`), so there is nothing to read on a first run" if own \
                        else "no step writes it"
                    self.error("CP230", f"input file '{path}' does not exist and {who}", draft.notebook, cell,
                               fix="create the file, correct the `in:` path (it is relative to the notebook's folder), "
                               "or tag the step that writes it with `out:`")

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


def _overlaps(a: str, b: str) -> bool:
    """Whether two root-relative paths are the same file or one is inside the other."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def _shared_uses(sources: Sequence[str]) -> tuple[set[str], dict[str, set[str]]]:
    """What shared cells read as they run, and for each name they define, the
    names its definition reads (a function's body included), statement by statement."""
    eager: set[str] = set()
    uses: dict[str, set[str]] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            try:
                tree = ast.parse(analysis.to_python(source))
            except SyntaxError:  # reported as CP140 with the cell's facts
                continue
        for stmt in tree.body:
            facts = analysis.analyze(ast.unparse(stmt))
            eager.update(facts.reads)
            for name in facts.binds:
                uses.setdefault(name, set()).update(facts.reads, facts.late_reads)
    return eager, uses


def _reachable(names: set[str], uses: dict[str, set[str]]) -> set[str]:
    """``names`` and every name their shared definitions read, transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(uses.get(name, ()))
    return seen


def _only_comments(source: str) -> bool:
    return all(not line.strip() or line.strip().startswith("#") for line in source.splitlines())


def _first_line(source: str, name: str) -> int | None:
    import re

    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    for n, line in enumerate(source.splitlines(), 1):
        if pattern.search(line):
            return n
    return None


def _join(folder: str, path: str) -> str:
    """A root-relative posix path for a path written relative to the notebook."""
    path = path.replace("\\", "/")
    trailing = path.endswith("/")
    joined = posixpath.normpath(posixpath.join(folder, path)) if not path.startswith("/") else posixpath.normpath(path)
    return joined + "/" if trailing and not joined.endswith("/") else joined


def _code_hash(nb: NotebookInfo, draft: _StepDraft) -> str:
    """Hash of everything that is the step's code: its code cells, the shared
    cells and copied imports. Markdown, outputs and execution counts are not."""
    payload = {
        "shared": [nb.cells[i].source for i in nb.shared_cells],
        "imports": draft.imports,
        "cells": [nb.cells[i].source for i in draft.code_cells],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def compile_notebooks(sources: Sequence[NotebookSource], exists: Callable[[str], bool] = lambda p: False) -> CompileResult:
    """Compile notebooks into one pipeline, collecting every problem on the way."""
    compiler = _Compiler(exists)
    drafts: list[_NotebookDraft] = []
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
            drafts.append(nb)
    pipeline = compiler.join(drafts) if drafts else None
    diags = sorted(compiler.diags, key=_diag_key(sources))
    return CompileResult(pipeline, diags)


def _diag_key(sources: Sequence[NotebookSource]) -> Callable[[Diagnostic], tuple]:
    order = {s.path: i for i, s in enumerate(sources)}
    return lambda d: (order.get(d.notebook or "", len(order)), d.cell if d.cell is not None else -1,
                      d.severity != "error", d.code)
