"""Pipeline -> manifest (``pipeline.json``) and papermill step notebooks. Pure.

A step notebook is, in order: a markdown header, a ``parameters`` cell (the
step's pipeline parameters and where to read and write artifacts), a setup cell
(working directory), the shared ``imports`` and ``functions`` cells, a cell that
replays the process-wide settings earlier steps made (when there are any; with the
imports copied from earlier steps, in notebook order), a cell that loads the step's
inputs, the step's own cells (each pointing back to its source cell in
``metadata.cellpipe``; a ``check`` cell between a cell that starts gathering its
checks and one that raises when any failed) and a cell that saves outputs and metrics.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cellpipe.core import analysis
from cellpipe.core.filerefs import absolute_literals
from cellpipe.core.parameters import emitted_source, parse_parameters
from cellpipe.core.tags import parse_tags
from cellpipe.model import NotebookInfo, Pipeline, SourceCell, Step

MANIFEST_VERSION = 1
NBFORMAT_MINOR = 5
#: nbformat 4.5's cell id: 1 to 64 letters, digits, '-' and '_'
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def manifest(pipeline: Pipeline) -> dict[str, Any]:
    """The manifest as plain JSON data: stable order, no timestamps, no absolute paths."""
    notebooks = []
    for nb in pipeline.notebooks:
        notebooks.append(
            {
                "path": nb.path,
                "parameters": {p.name: p.to_dict() for p in nb.parameters},
                "parameters_cell": nb.parameters_cell,
                "shared_cells": list(nb.shared_cells),
                "settings": nb.settings,
            }
        )
    steps = []
    for step in pipeline.steps:
        nb = pipeline.notebook(step.notebook)
        hints: dict[str, list[str]] = {}
        for kind, value in step.hints:
            hints.setdefault(kind, []).append(value)
        steps.append(
            {
                "name": step.name,
                "notebook": step.notebook,
                "cells": [
                    {"index": c.index, "number": c.number, "id": c.id, "type": nb.cells[c.index].cell_type}
                    for c in step.cells
                ],
                "code_hash": step.code_hash,
                "parameters": list(step.parameters),
                "inputs": {
                    "variables": [{"name": v.name, "from": v.producer} for v in step.var_inputs],
                    "files": list(step.file_inputs),
                },
                "outputs": {
                    "variables": [
                        {"name": var, "to": list(consumers)} for var, consumers in step.consumers
                    ],
                    "files": list(step.file_outputs),
                },
                "changes_inputs": list(step.mutated_inputs),
                "depends_on": list(step.depends_on),
                "after": list(step.after),
                "imports": list(step.imports),
                "learned_changes": [{"name": var, "run": run} for var, run in step.learned],
                "replays_settings": [{"cell": index + 1, "statement": statement}
                                     for index, statement in step.replayed],
                "metrics": list(step.metrics),
                "nocache": step.nocache,
                "hints": hints,
                "notebook_file": f"steps/{step.name}.ipynb",
            }
        )
    return {
        "cellpipe_manifest": MANIFEST_VERSION,
        "name": pipeline.name,
        "settings": pipeline.settings,
        "notebooks": notebooks,
        "steps": steps,
    }


def dumps_manifest(pipeline: Pipeline) -> str:
    return json.dumps(manifest(pipeline), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _lines(source: str) -> list[str]:
    """nbformat's multi-line source form: a list of lines keeping their newlines."""
    return source.splitlines(keepends=True)


def _cell(cell_type: str, source: str, cell_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": cell_type, "id": cell_id, "metadata": metadata, "source": _lines(source)}
    if cell_type == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def _source_meta(nb: NotebookInfo, cell: SourceCell, role: str) -> dict[str, Any]:
    meta = {k: v for k, v in cell.metadata.items() if k not in ("tags", "cellpipe", "execution")}
    tags = [t for t in cell.metadata.get("tags", []) or [] if isinstance(t, str) and t not in ("parameters", "injected-parameters")]
    if tags:
        meta["tags"] = tags
    meta["cellpipe"] = {"role": role, "source": {"notebook": nb.path, "index": cell.index, "number": cell.index + 1, "id": cell.id}}
    return meta


def _imports_around_settings(step: Step) -> tuple[list[str], list[str]]:
    """The step's copied imports and its replayed settings in notebook order, up to the
    last setting (``early``: lines of the settings cell), and the imports after it."""
    if not step.replayed:
        return [], list(step.imports)
    cells = step.import_cells if len(step.import_cells) == len(step.imports) else (-1,) * len(step.imports)
    settings = [((index, 1), f"{statement}  # cell {index + 1}") for index, statement in step.replayed]
    last = max(key for key, _ in settings)
    used = {index: set().union(*(analysis.analyze(st).reads for i, st in step.replayed if i == index))
            for index, _ in step.replayed}
    imports = []
    for stmt, index in zip(step.imports, cells, strict=True):
        # in a cell that also makes a setting: first when the setting uses what it binds (`import sys`)
        order = 0 if analysis.analyze(stmt).binds & used.get(index, set()) or index not in used else 2
        imports.append(((index, order) if index >= 0 else (last[0] + 1, 0), stmt))
    early = [line for _, line in sorted([*settings, *[i for i in imports if i[0] < last]], key=lambda e: e[0])]
    return early, [stmt for key, stmt in imports if key > last]


def _settings_read_inputs(step: Step) -> bool:
    """A replayed setting reads a variable the step loads (`os.chdir(folder)`)."""
    inputs = {v.name for v in step.var_inputs}
    return any(inputs & set(analysis.analyze(statement).reads) for _, statement in step.replayed)


def _settings_cell(early: list[str], step: Step, cell_id: str) -> dict[str, Any]:
    lines = ["# process-wide settings made by earlier steps, in notebook order"]
    lines += early or [f"{statement}  # cell {index + 1}" for index, statement in step.replayed]
    return _cell("code", "\n".join(lines), cell_id, {"cellpipe": {"role": "settings"}})


def is_check_cell(cell: SourceCell) -> bool:
    """Whether the cell carries a ``check`` tag (any spelling): its failed asserts
    and ``cellpipe.check()`` calls are checks, not crashes."""
    return "check" in parse_tags(cell.metadata.get("tags")).roles


def _literal(value: Any) -> str:
    return repr(value)


def step_notebook(pipeline: Pipeline, step: Step, artifacts: str, workdir: str) -> dict[str, Any]:
    """The papermill-ready notebook for ``step``.

    ``artifacts`` and ``workdir`` are the defaults of the ``cellpipe_artifacts``
    and ``cellpipe_workdir`` parameters (papermill ``-p`` overrides them).
    """
    nb = pipeline.notebook(step.notebook)
    cells: list[dict[str, Any]] = []
    used_ids: set[str] = set()

    def new_id(wanted: str | None, fallback: str) -> str:
        cid = wanted if isinstance(wanted, str) and _CELL_ID.match(wanted) and wanted not in used_ids else fallback
        n = 1
        base = cid
        while cid in used_ids:
            n += 1
            cid = f"{base[:60]}-{n}"
        used_ids.add(cid)
        return cid

    header = (
        f"# Step `{step.name}` of pipeline `{pipeline.name}`\n\n"
        f"Generated by cellpipe from `{step.notebook}` "
        f"({'cell' if len(step.cells) == 1 else 'cells'} {', '.join(str(c.number) for c in step.cells)}). "
        "Do not edit: edit the source notebook and compile again."
    )
    cells.append(_cell("markdown", header, new_id(None, "cellpipe-header"), {"cellpipe": {"role": "header"}}))

    param_lines = ["# Parameters (papermill's -p overrides them)"]
    for name in step.parameters:
        param = nb.parameter(name)
        if param is None:
            continue
        # the annotation becomes a comment: the names it uses (Optional, ...) are
        # only imported by the shared cells that come after this cell
        comment = f"  # {param.annotation}" if param.annotation else ""
        value = param.literal if param.literal is not None else _literal(param.default)
        param_lines.append(f"{name} = {value}{comment}")
    param_lines.append("# where this step reads its inputs and writes its outputs")
    param_lines.append(f"cellpipe_artifacts = {_literal(artifacts)}")
    param_lines.append("# the source notebook's folder: the step runs there")
    param_lines.append(f"cellpipe_workdir = {_literal(workdir)}")
    cells.append(
        _cell("code", "\n".join(param_lines), new_id(None, "cellpipe-parameters"),
              {"tags": ["parameters"], "cellpipe": {"role": "parameters"}})
    )

    cells.append(
        _cell("code", _setup_source(pipeline, step), new_id(None, "cellpipe-setup"), {"cellpipe": {"role": "setup"}})
    )

    in_place_source = _parameters_in_place(nb, step)
    in_place = None
    if in_place_source is not None and nb.parameters_cell is not None:
        in_place = _cell("code", in_place_source, new_id(None, "cellpipe-parameters-in-place"),
                         _source_meta(nb, nb.cells[nb.parameters_cell], "parameters"))
    # the parameters cell runs at its place: among the step's own cells when some come before it
    # (a papermill notebook's first cell of imports), else among the shared cells
    in_steps = in_place is not None and any(ref.index < (nb.parameters_cell or 0) for ref in step.cells)
    after_step_cell = in_place if in_steps else None
    if in_steps:
        in_place = None
    for i in nb.shared_cells:
        if in_place is not None and nb.parameters_cell is not None and i > nb.parameters_cell:
            cells.append(in_place)
            in_place = None
        cell = nb.cells[i]
        cells.append(_cell("code", cell.source, new_id(cell.id, f"shared-{i}"), _source_meta(nb, cell, "shared")))
    if in_place is not None:
        cells.append(in_place)

    early, late = _imports_around_settings(step)
    settings_first = bool(step.replayed) and not _settings_read_inputs(step)
    if settings_first:  # a module a setting makes importable (`sys.path`) is imported after it
        cells.append(_settings_cell(early, step, new_id(None, "cellpipe-settings")))
    load_lines = list(late) if settings_first else list(step.imports)
    inputs = {v.name: v.producer for v in step.var_inputs}
    guard = [v.name for v in step.var_inputs if v.name not in step.mutated_inputs]
    load_lines.append(
        f"_cellpipe_ctx = _cellpipe.load_inputs(\n"
        f"    step={step.name!r},\n"
        f"    artifacts=cellpipe_artifacts,\n"
        f"    inputs={json.dumps(inputs, sort_keys=True)},\n"
        f"    guard={json.dumps(guard)},\n"
        f"    namespace=globals(),\n"
        f")"
    )
    cells.append(_cell("code", "\n".join(load_lines), new_id(None, "cellpipe-load"), {"cellpipe": {"role": "load"}}))

    if step.replayed and not settings_first:  # the settings read values the step loads
        cells.append(_settings_cell([], step, new_id(None, "cellpipe-settings")))

    for ref in step.cells:
        if after_step_cell is not None and nb.parameters_cell is not None and ref.index > nb.parameters_cell:
            cells.append(after_step_cell)
            after_step_cell = None
        cell = nb.cells[ref.index]
        meta = _source_meta(nb, cell, "step")
        gate = cell.cell_type == "code" and is_check_cell(cell)
        if gate:
            meta["cellpipe"]["check"] = True
            cells.append(_cell("code", f"_cellpipe.begin_checks(cell={ref.number})", new_id(None, f"checks-{ref.index}"),
                               {"cellpipe": {"role": "checks", "source": meta["cellpipe"]["source"]}}))
        cells.append(_cell(cell.cell_type, cell.source, new_id(cell.id, f"cell-{ref.index}"), meta))
        if gate:
            # raises CheckFailed with every failed check of the cell: downstream steps are blocked
            cells.append(_cell("code", "_cellpipe.end_checks()", new_id(None, f"checks-end-{ref.index}"),
                               {"cellpipe": {"role": "check", "check": True, "source": meta["cellpipe"]["source"]}}))
    if after_step_cell is not None:
        cells.append(after_step_cell)

    consumers = {var: list(c) for var, c in step.consumers}
    save = (
        f"_cellpipe.save_outputs(\n"
        f"    _cellpipe_ctx,\n"
        f"    outputs={json.dumps(consumers, sort_keys=True)},\n"
        f"    metrics={json.dumps(list(step.metrics))},\n"
        f"    files={json.dumps(list(step.file_outputs))},\n"
        f"    root={_literal(_root_from_workdir(step.notebook))},\n"
        f"    namespace=globals(),\n"
        f")"
    )
    cells.append(_cell("code", save, new_id(None, "cellpipe-save"), {"cellpipe": {"role": "save"}}))

    return {
        "cells": cells,
        "metadata": {
            # nbformat requires these keys; a hand-written source notebook may lack them
            "kernelspec": {"name": "python3", "display_name": "Python 3", **nb.kernelspec},
            "language_info": {"name": "python", **nb.language_info},
            "cellpipe": {"pipeline": pipeline.name, "step": step.name, "notebook": step.notebook,
                         "code_hash": step.code_hash, "generated": True},
        },
        "nbformat": 4,
        "nbformat_minor": NBFORMAT_MINOR,
    }


def _parameters_in_place(nb: NotebookInfo, step: Step) -> str | None:
    """A parameters cell with more than literal assignments (computed defaults,
    imports, ``pass``) runs as papermill runs it: whole, with the defaults, at its
    place among the shared cells; then the values given with ``-p`` win again, as
    papermill's injected cell does. None for a cell of literals only."""
    if nb.parameters_cell is None:
        return None
    cell = nb.cells[nb.parameters_cell]
    if not parse_parameters(cell.source).code:
        return None
    defaults = ", ".join(f"{name!r}: {_param_literal(nb, name)}" for name in step.parameters if nb.parameter(name))
    return (
        "# the parameters cell as written: its other lines run with the defaults, as papermill runs them\n"
        f"_cellpipe_given = _cellpipe.given_parameters(globals(), {{{defaults}}})\n"
        f"{emitted_source(cell.source)}\n"
        "globals().update(_cellpipe_given)  # values given with -p win, as in papermill\n"
        "del _cellpipe_given"
    )


def _param_literal(nb: NotebookInfo, name: str) -> str:
    param = nb.parameter(name)
    assert param is not None
    return param.literal if param.literal is not None else _literal(param.default)


def _setup_source(pipeline: Pipeline, step: Step) -> str:
    """Enter the notebook's folder, then record the files the step opens (see
    :func:`cellpipe.runtime.watch_files`): files outside the project count when the
    step names them, in a literal string of its code or in a parameter's value."""
    nb = pipeline.notebook(step.notebook)
    named: dict[str, None] = {}
    in_place = (nb.parameters_cell,) if nb.parameters_cell is not None else ()
    for i in (*in_place, *nb.shared_cells, *(r.index for r in step.cells)):
        if nb.cells[i].cell_type == "code":
            named.update(dict.fromkeys(absolute_literals(nb.cells[i].source)))
    values = ", ".join([*(repr(p) for p in named), *step.parameters])
    return (
        "import cellpipe.runtime as _cellpipe\n"
        "_cellpipe.enter_workdir(cellpipe_workdir)\n"
        f"_cellpipe.watch_files(root={_root_from_workdir(step.notebook)!r}, artifacts=cellpipe_artifacts, "
        f"named=[{values}])"
    )


def _root_from_workdir(notebook: str) -> str:
    """Relative path from the notebook's folder back to the pipeline root."""
    import posixpath

    folder = posixpath.dirname(notebook)
    if not folder:
        return "."
    return posixpath.relpath(".", folder)
