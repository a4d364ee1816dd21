"""One notebook's structure: cells -> steps, shared cells and parameters, from
the tags (see :mod:`cellpipe.core.tags`). Pure; part of the compiler."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from typing import Any

from cellpipe.core import analysis
from cellpipe.core.analysis import CodeFacts
from cellpipe.core.compiler.diagnostics import Collector
from cellpipe.core.compiler.wellformed import content_problem
from cellpipe.core.parameters import ParamCode, parse_parameters
from cellpipe.core.tags import CellTags, parse_tags, suggest_step_name
from cellpipe.model import (
    NotebookInfo,
    Parameter,
    SourceCell,
)


@dataclass(frozen=True)
class NotebookSource:
    """A notebook handed to the compiler: its root-relative path and JSON content."""

    path: str
    content: Any
    #: why the file could not be read (missing, not JSON); set by the reader
    read_error: str | None = None


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
    return content_problem(content)


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


def _markdown_heads(cells: list[SourceCell], tags: list[CellTags]) -> dict[int, tuple[str, int]]:
    """Untagged markdown (and raw) cells right above a step-tagged cell, with no code
    cell between: each maps to that cell's step and index. Such a cell is the step's
    heading or introduction, so it belongs to the step below, not to the one above."""
    heads: dict[int, tuple[str, int]] = {}
    below: tuple[str, int] | None = None  # the step-tagged cell ending the run of markdown
    for cell, t in zip(reversed(cells), reversed(tags), strict=True):
        if t.step:
            below = (t.step, cell.index)
        elif cell.cell_type == "code":
            below = None
        elif t.role != "skip" and below is not None:
            heads[cell.index] = below
    return heads


@dataclass
class StepDraft:
    """A step as the compiler builds it, before it becomes a frozen :class:`Step`."""

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
    #: import statement -> the source cell it is copied from
    import_cells: dict[str, int] = field(default_factory=dict)
    outputs_vars: dict[str, set[str]] = field(default_factory=dict)  # var -> consumers
    #: (cell, statement): process-wide settings of earlier steps, run again at the start of this step
    replayed: list[tuple[int, str]] = field(default_factory=list)
    #: variables an earlier run saw this step change in place -> that run's id
    learned: dict[str, str] = field(default_factory=dict)


@dataclass
class NotebookDraft:
    """A notebook as the compiler builds it: its info, cell tags, step drafts and code facts."""

    info: NotebookInfo
    tags: list[CellTags]
    steps: list[StepDraft]
    facts: dict[int, CodeFacts]
    cell_step: dict[int, str]
    skipped: list[int] = field(default_factory=list)  # code cells tagged `skip`
    #: cells that also belong to further steps (Kale's several block tags on one cell)
    also: dict[int, list[str]] = field(default_factory=dict)


@dataclass
class _Layout:
    """Which cells make which step: the state of the cell-assignment pass."""

    path: str
    has_steps: bool
    default_step: str
    steps: dict[str, StepDraft] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    cell_step: dict[int, str] = field(default_factory=dict)
    also: dict[int, list[str]] = field(default_factory=dict)  # cells that belong to further steps too
    pending: list[int] = field(default_factory=list)  # cells before the first step
    pending_code: list[int] = field(default_factory=list)
    params_cell: int | None = None
    shared: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def step_for(self, name: str, cell: int) -> StepDraft:
        """The draft of step ``name``, created at ``cell`` when it is new."""
        if name not in self.steps:
            self.steps[name] = StepDraft(name, self.path, cell)
            self.order.append(name)
        return self.steps[name]


class Reader(Collector):
    """Reads a notebook's cells into step drafts (first pass of the compiler).

    :meth:`read_notebook` runs named passes in order: check the file is a
    Python notebook, read cells and tags, assign cells to steps, place the
    cells before the first step, drop or report empty steps, read the
    parameters cell, analyze the code cells.
    """

    # -- one notebook ----------------------------------------------------------
    def read_notebook(self, src: NotebookSource) -> NotebookDraft | None:
        """The notebook's draft, or None when it cannot be compiled (reported)."""
        content = self._readable(src)
        if content is None:
            return None
        path = src.path
        cells, tags = self._read_cells(path, content)
        has_steps = any(t.step for t in tags)
        stem = posixpath.splitext(posixpath.basename(path))[0]
        layout = _Layout(path, has_steps, suggest_step_name(stem))
        self._assign_cells(layout, cells, tags)
        self._place_pending(layout, cells, tags)
        self._drop_empty_steps(layout, cells)
        parameters = self._read_parameters(path, cells, layout.params_cell)
        facts = self._analyze_code(path, cells, layout)
        info = _notebook_info(path, content, cells, parameters, layout)
        return NotebookDraft(info, tags, [layout.steps[n] for n in layout.order], facts, layout.cell_step,
                             layout.skipped, layout.also)

    def _readable(self, src: NotebookSource) -> dict[str, Any] | None:
        """The notebook's JSON when it is an nbformat 4 Python notebook; else None, reported."""
        path = src.path
        if src.read_error:
            self.error("CP001", f"the notebook {src.read_error}", path, fix=_read_error_fix(src.read_error))
            return None
        problem = _structure_problem(src.content)
        if problem:
            self.error("CP001", f"this file {problem}", path,
                       fix="open the notebook in JupyterLab and save it, or restore it from version control")
            return None
        content: dict[str, Any] = src.content
        if _language(content) != "python":
            self.error("CP002", f"the notebook's kernel language is {_language(content)!r}; cellpipe compiles Python notebooks", path,
                       fix="use a Python kernel")
            return None
        return content

    def _read_cells(self, path: str, content: dict[str, Any]) -> tuple[list[SourceCell], list[CellTags]]:
        """Each cell and what its tags say; tag problems are reported."""
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
            for tag_problem in parsed.problems:
                code = "CP102" if tag_problem.message.startswith("bad step name") else "CP101"
                self.error(code, tag_problem.message, path, i, fix=tag_problem.fix, cell_id=cell.id)
        return cells, tags

    def _assign_cells(self, layout: _Layout, cells: list[SourceCell], tags: list[CellTags]) -> None:
        """Walk the cells in order: each joins the step its tags (or the cell above) say,
        or the shared, parameters, skipped or pending cells."""
        path = layout.path
        context: str | None = None if layout.has_steps else layout.default_step
        heads = _markdown_heads(cells, tags)
        for cell, t in zip(cells, tags, strict=True):
            i = cell.index
            if not t.step and i in heads and heads[i][0] != context:
                # markdown just above a step's first cell introduces that step
                name, tagged = heads[i]
                if name in layout.steps:
                    layout.steps[name].reentered.append(tagged)
                else:
                    layout.step_for(name, tagged)  # the step starts at its tag (where diagnostics point)
                context = name
            if t.step:
                if t.step in layout.steps and t.step != context:
                    layout.steps[t.step].reentered.append(i)
                context = t.step
            if cell.cell_type != "code":
                if t.role == "skip":
                    continue
                if context is None:
                    layout.pending.append(i)
                else:
                    self._add_to_step(layout.step_for(context, i), t, None, path, index=i, position=True)
                    layout.cell_step[i] = context
                continue
            if t.injected_parameters:
                self.warn("CP110", "papermill's injected-parameters cell is ignored", path, i,
                          fix="delete the cell: it is a papermill output, not source", cell_id=cell.id)
                continue
            role = t.role
            if role == "skip":
                layout.skipped.append(i)
                continue
            if role == "parameters":
                if layout.params_cell is not None:
                    self.error("CP120", f"a second parameters cell (the first is cell {layout.params_cell + 1})",
                               path, i, fix="merge the two into one cell tagged `parameters`", cell_id=cell.id)
                    continue
                layout.params_cell = i
                self._attach_step_tags(t, context, layout, i)
                continue
            if role in ("imports", "functions"):
                layout.shared.append(i)
                self._attach_step_tags(t, context, layout, i)
                continue
            if context is None:
                layout.pending.append(i)
                layout.pending_code.append(i)
                continue
            self._add_to_step(layout.step_for(context, i), t, cell, path)
            layout.cell_step[i] = context
            for extra in t.also_steps:  # Kale: the cell's code runs in each named step
                self._add_to_step(layout.step_for(extra, i), t, cell, path)
                layout.also[i] = [*layout.also.get(i, []), extra]

    def _place_pending(self, layout: _Layout, cells: list[SourceCell], tags: list[CellTags]) -> None:
        """Cells before the first step tag join the first step (with a warning for
        code); without any step tag they are the notebook's one step."""
        pending, path = layout.pending, layout.path
        if not pending:
            return
        if layout.order:
            first = layout.steps[layout.order[0]]
            first.cells[:0] = pending
            code = [i for i in pending if i in layout.pending_code]
            first.code_cells[:0] = code
            for i in pending:
                layout.cell_step[i] = first.name
            if code:
                self.warn("CP111", f"cell {code[0] + 1} comes before the first step tag; it joins step '{first.name}'",
                          path, code[0], fix=f"tag it `step:{first.name}`, `imports`, `functions` or `skip` to say so",
                          cell_id=cells[code[0]].id)
            for i in pending:
                self._add_to_step(first, tags[i], None, path, index=i)
        else:
            for i in pending:
                layout.cell_step[i] = layout.default_step
            draft = layout.step_for(layout.default_step, pending[0])
            draft.cells = pending
            draft.code_cells = [i for i in pending if i in layout.pending_code]
            for i in pending:
                self._add_to_step(draft, tags[i], None, path, index=i)

    def _drop_empty_steps(self, layout: _Layout, cells: list[SourceCell]) -> None:
        """A tagged step without code cells is an error (one whose code cells hold only comments
        runs and does nothing); the implicit one is dropped."""
        path = layout.path
        for name in list(layout.order):
            draft = layout.steps[name]
            draft.implicit = not layout.has_steps
            if not any(cells[i].source.strip() and not _only_comments(cells[i].source) for i in draft.code_cells):
                if draft.implicit:  # nothing to run, and no tag asked for a step: not an error
                    layout.order.remove(name)
                    layout.cell_step.clear()
                    continue
                if draft.code_cells:
                    continue  # code cells of comments only (a notebook's closing notes): a step that does nothing
                first = draft.first_cell
                self.error("CP130", f"step '{name}' has no code", path, first,
                           fix=f"add code to the step, or remove the `step:{name}` tag", cell_id=cells[first].id)
        if not layout.order:
            self.warn("CP131", "the notebook has no code outside `parameters`, `imports`, `functions` and `skip` "
                      "cells: it adds no step to the pipeline", path,
                      fix="add code cells, tag one `step:NAME`, or leave the notebook out of the pipeline")

    def _read_parameters(self, path: str, cells: list[SourceCell], params_cell: int | None) -> list[Parameter]:
        """The parameters cell's assignments, a name assigned twice taking its last value."""
        if params_cell is None:
            return []
        declared = parse_parameters(cells[params_cell].source)
        for param_problem in declared.problems:
            self.error("CP121", f"parameters cell: {param_problem.message}", path, params_cell,
                       fix=param_problem.fix, line=param_problem.line, cell_id=cells[params_cell].id)
        by_name: dict[str, Parameter] = {}
        for p in declared.params:  # a name assigned twice takes its last value, as running the cell would
            if p.name in by_name:
                self.warn("CP122", f"parameter `{p.name}` is assigned twice (lines {by_name[p.name].line} and "
                          f"{p.line}); like Python, cellpipe takes the last value, {p.default!r}, as its default",
                          path, params_cell, line=p.line, fix="keep one assignment per parameter")
            by_name.pop(p.name, None)
            by_name[p.name] = Parameter(p.name, p.default, p.schema, path, params_cell, p.line, p.annotation, p.literal)
        self._warn_unreached(path, cells[params_cell], declared.code, set(by_name))
        return list(by_name.values())

    def _warn_unreached(self, path: str, cell: SourceCell, code: list[ParamCode], params: set[str]) -> None:
        """The other lines of a parameters cell run in place, with the defaults, as in
        papermill: warn where a parameter override would not reach (CP123)."""
        for stmt in code:
            snippet = stmt.text.strip().splitlines()[0] if stmt.text.strip() else ""
            changed = sorted(set(stmt.binds) & params)
            used = sorted((set(stmt.reads) & params) - set(changed))
            if changed:
                names = ", ".join(f"`{n}`" for n in changed)
                self.warn("CP123", f"parameters cell: line {stmt.line} (`{snippet}`) changes parameter {names} after "
                          "its default; a value given with -p replaces the result", path, cell.index,
                          line=stmt.line, cell_id=cell.id,
                          fix="make the line a step's first line, or give the parameter its final value "
                              "as a literal")
            elif used and stmt.binds:  # `print(rows)` makes nothing a step could use
                names = ", ".join(f"`{n}`" for n in used)
                made = ", ".join(f"`{n}`" for n in stmt.binds) or "its result"
                self.warn("CP123", f"parameters cell: line {stmt.line} (`{snippet}`) computes {made} from parameter "
                          f"{names} before overrides are applied (as papermill does): -p {used[0]}=... does not "
                          "reach it", path, cell.index, line=stmt.line, cell_id=cell.id,
                          fix="move the line into the first step that uses it, or make it a literal parameter "
                              "of its own")

    def _analyze_code(self, path: str, cells: list[SourceCell], layout: _Layout) -> dict[int, CodeFacts]:
        """What each code cell of a step or shared cell binds and reads; syntax errors reported."""
        facts: dict[int, CodeFacts] = {}
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and (i in layout.cell_step or i in layout.shared):
                f = analysis.analyze(cell.source)
                if f.syntax_error:
                    line, msg = f.syntax_error
                    self.error("CP140", f"syntax error: {msg}", path, i, line=line,
                               fix="fix the Python syntax (the cell must run in a kernel)", cell_id=cell.id)
                facts[i] = f
        return facts

    def _attach_step_tags(self, t: CellTags, context: str | None, layout: _Layout, i: int) -> None:
        """The step tags (in:, out:, after:, ...) of a shared or parameters cell go to the current step."""
        if not (t.after or t.inputs or t.outputs or t.nocache or t.hints):
            return
        if context is None:
            self.warn("CP112", "in:/out:/after:/nocache tags on a shared or parameters cell before any step are ignored",
                      layout.path, i, fix="move these tags to a cell of the step they describe")
            return
        self._add_to_step(layout.step_for(context, i), t, None, layout.path, index=i)

    def _add_to_step(self, draft: StepDraft, t: CellTags, cell: SourceCell | None, path: str,
                     index: int | None = None, position: bool = False) -> None:
        """Add a code ``cell`` to the step (or, without one, only the tags of cell
        ``index``; ``position`` also lists that cell among the step's cells)."""
        i = cell.index if cell is not None else index
        assert i is not None
        if cell is not None:
            draft.cells.append(i)
            draft.code_cells.append(i)
        elif position:
            draft.cells.append(i)
        if "metrics" in t.roles:
            draft.metric_cells.append(i)
        folder = posixpath.dirname(path)
        draft.after.extend((a, i) for a in t.after)
        draft.inputs.extend((_join(folder, p), i) for p in t.inputs)
        draft.outputs.extend((_join(folder, p), i) for p in t.outputs)
        draft.nocache = draft.nocache or t.nocache
        draft.hints.extend(t.hints)


def _notebook_info(path: str, content: dict[str, Any], cells: list[SourceCell], parameters: list[Parameter],
                   layout: _Layout) -> NotebookInfo:
    """The notebook as the pipeline keeps it; settings from ``metadata.cellpipe`` (and Kale's)."""
    meta = content.get("metadata") or {}
    settings = dict(meta.get("cellpipe") or {})
    kale = meta.get("kubeflow_notebook") or {}
    if kale.get("pipeline_name") and "name" not in settings:
        settings["name"] = kale["pipeline_name"]
    if kale.get("docker_image") and "image" not in settings:
        settings["image"] = kale["docker_image"]
    return NotebookInfo(
        path=path,
        cells=tuple(cells),
        parameters=tuple(parameters),
        parameters_cell=layout.params_cell,
        shared_cells=tuple(layout.shared),
        kernelspec=dict(meta.get("kernelspec") or {"name": "python3", "display_name": "Python 3", "language": "python"}),
        language_info=dict(meta.get("language_info") or {"name": "python"}),
        settings=settings,
    )


def _only_comments(source: str) -> bool:
    return all(not line.strip() or line.strip().startswith("#") for line in source.splitlines())


def _join(folder: str, path: str) -> str:
    """A root-relative posix path for a path written relative to the notebook."""
    path = path.replace("\\", "/")
    trailing = path.endswith("/")
    joined = posixpath.normpath(posixpath.join(folder, path)) if not path.startswith("/") else posixpath.normpath(path)
    return joined + "/" if trailing and not joined.endswith("/") else joined
