"""What every exporter needs to know about each step, read from the compiled pipeline.

One :class:`ExportPlan` per export: the pipeline's parameters (typed, with their
defaults), the project's ``in:`` files, and one :class:`TaskSpec` per step with
its parameters, the variables and files it receives and passes on, its metrics,
its Kale hints and what travels inside the task (the compiled step notebook and
the project's local modules it imports). The KFP and Argo exporters only
translate a plan into their SDK's objects.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe._version import __version__
from cellpipe.core.emit import step_notebook
from cellpipe.core.overrides import resolve
from cellpipe.engine.modules import local_modules
from cellpipe.model import Pipeline, Step

#: the image every step runs in unless ``--image`` or a step's ``image:`` hint says otherwise;
#: ``runtime-image/Dockerfile`` builds it (see the README, "Running on Kubeflow and Argo")
DEFAULT_IMAGE = f"cellpipe-runtime:{__version__}"

#: where a task's files live inside its container (the step notebook's defaults)
CONTAINER_ROOT = "/cellpipe"

#: how each JSON-schema type of a parameter travels: as this Python type
_KINDS = {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "array": "list", "object": "dict"}


def identifier(text: str, prefix: str = "") -> str:
    """``text`` as a Python identifier (what KFP input names and functions need)."""
    name = re.sub(r"[^0-9a-zA-Z_]", "_", text)
    if not name or name[0].isdigit() or (prefix and not name.startswith(prefix)):
        name = (prefix or "_") + name
    return name


@dataclass(frozen=True)
class ParamSpec:
    """A pipeline parameter as the exported pipeline declares it."""

    #: the exported pipeline's name for it (NAME, or NOTEBOOK__NAME when notebooks disagree)
    name: str
    #: the name in the notebook's parameters cell
    notebook_name: str
    #: int, float, bool, str, list, dict; ``json`` for a value of no single type (travels as JSON text)
    kind: str
    default: Any
    #: the value may be None
    optional: bool
    schema: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "notebook_name": self.notebook_name, "kind": self.kind,
                "default": self.default, "optional": self.optional}


@dataclass(frozen=True)
class FileSpec:
    """A declared file (``in:``/``out:``) of a step."""

    #: relative to the pipeline root, posix separators
    path: str
    #: the input or output name the task uses for it
    name: str
    #: the step that writes it (``out:``); None for a file of the project
    producer: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """One step, as a task of another engine."""

    step: str
    #: the step's name as an identifier (a component function's name)
    name: str
    notebook: str
    parameters: tuple[ParamSpec, ...]
    #: (variable, producer step)
    var_inputs: tuple[tuple[str, str], ...]
    var_outputs: tuple[str, ...]
    file_inputs: tuple[FileSpec, ...]
    file_outputs: tuple[FileSpec, ...]
    metrics: tuple[str, ...]
    #: steps this one runs after without receiving data from them (``after:``)
    after: tuple[str, ...]
    hints: dict[str, list[str]]
    #: the compiled step notebook (nbformat JSON)
    notebook_json: dict[str, Any]
    #: the project's local modules the step imports: path relative to the root -> text
    modules: dict[str, str]
    #: the step always runs (``nocache``)
    nocache: bool = False

    def task_json(self) -> dict[str, Any]:
        """What the task runner reads inside the container (``task.json``)."""
        return {
            "cellpipe_version": __version__,
            "step": self.step,
            "notebook": self.notebook,
            "parameters": [p.to_dict() for p in self.parameters],
            "var_inputs": [list(pair) for pair in self.var_inputs],
            "var_outputs": list(self.var_outputs),
            "file_inputs": [f.path for f in self.file_inputs],
            "file_outputs": [f.path for f in self.file_outputs],
            "metrics": list(self.metrics),
        }

    def assets(self) -> dict[str, str]:
        """The files that travel inside the task: relative path -> text."""
        files = {
            "task.json": json.dumps(self.task_json(), indent=1, sort_keys=True) + "\n",
            "step.ipynb": json.dumps(self.notebook_json, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        }
        for path, text in self.modules.items():
            files[f"project/{path}"] = text
        return files

    def hint_values(self, kind: str) -> list[str]:
        return list(self.hints.get(kind, []))


@dataclass(frozen=True)
class ExportPlan:
    """Everything an exporter translates."""

    name: str
    parameters: tuple[ParamSpec, ...]
    #: ``in:`` files that no step writes: the pipeline imports them
    project_files: tuple[FileSpec, ...]
    tasks: tuple[TaskSpec, ...]
    notes: list[str] = field(default_factory=list)

    def task(self, step: str) -> TaskSpec:
        for task in self.tasks:
            if task.step == step:
                return task
        raise KeyError(step)


def _stem(path: str) -> str:
    name = posixpath.basename(path)
    return name[:-6] if name.endswith(".ipynb") else name


def _kind(schema: dict[str, Any], default: Any) -> tuple[str, bool]:
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    optional = "null" in kinds or default is None
    real = [k for k in kinds if k != "null"]
    if set(real) == {"integer", "number"}:
        real = ["number"]
    if len(real) == 1 and real[0] in _KINDS:
        return _KINDS[real[0]], optional
    return "json", False  # no single type (or none known): the value travels as JSON text


def _parameters(pipeline: Pipeline, overrides: dict[str, Any]) -> dict[tuple[str, str], ParamSpec]:
    """(notebook, name) -> the pipeline parameter it becomes."""
    values = resolve(pipeline, overrides)
    seen: dict[str, set[str]] = {}
    for nb in pipeline.notebooks:
        for p in nb.parameters:
            seen.setdefault(p.name, set()).add(
                json.dumps([values[nb.path][p.name], p.schema], sort_keys=True, default=str)
            )
    specs: dict[tuple[str, str], ParamSpec] = {}
    for nb in pipeline.notebooks:
        for p in nb.parameters:
            shared = len(seen[p.name]) == 1
            name = p.name if shared else identifier(f"{_stem(nb.path)}__{p.name}")
            default = values[nb.path][p.name]
            kind, optional = _kind(p.schema, default)
            if kind == "json":
                default = json.dumps(default)
            specs[(nb.path, p.name)] = ParamSpec(name, p.name, kind, default, optional, dict(p.schema))
    return specs


def _file_name(path: str, notebook: str) -> str:
    folder = posixpath.dirname(notebook)
    shown = posixpath.relpath(path, folder) if folder else path
    if shown.startswith(".."):
        shown = path
    return identifier(shown.strip("/"), prefix="file_")


def _modules(pipeline: Pipeline, step: Step, root: Path, notes: list[str]) -> dict[str, str]:
    nb = pipeline.notebook(step.notebook)
    sources = [nb.cells[i].source for i in nb.shared_cells]
    sources += [nb.cells[c.index].source for c in step.cells if nb.cells[c.index].cell_type == "code"]
    folder = (root / step.notebook).parent
    found: dict[str, str] = {}
    for path in local_modules(sources, folder):
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            notes.append(f"step '{step.name}' imports {path}, outside the project: it is not exported")
            continue
        found[rel] = path.read_text(encoding="utf-8")
    return found


_ARTIFACT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_variables(step: Step) -> None:
    """Engines name artifacts in ASCII: a variable with another name cannot travel."""
    for var, consumers in step.consumers:
        if not _ARTIFACT_NAME.fullmatch(var):
            from cellpipe.engine.export import ExportError

            users = ", ".join(f"'{c}'" for c in consumers)
            raise ExportError(
                f"variable `{var}` made by step '{step.name}' of {step.notebook} and used by step {users} cannot "
                "be passed as an artifact: KFP and Argo name artifacts with ASCII letters, digits and '_' only. "
                f"Fix: rename `{var}` in the notebook (e.g. to `{identifier(var.encode('ascii', 'replace').decode())}`)"
            )


def make_plan(pipeline: Pipeline, root: Path, overrides: dict[str, Any] | None = None) -> ExportPlan:
    """The export plan of ``pipeline`` (rooted at ``root``), with ``overrides`` as defaults."""
    for step in pipeline.steps:
        _check_variables(step)
    params = _parameters(pipeline, overrides or {})
    writers = {path: step.name for step in pipeline.steps for path in step.file_outputs}
    project_files: dict[str, FileSpec] = {}
    notes: list[str] = []
    tasks = []
    for step in pipeline.steps:
        file_inputs = []
        for path in step.file_inputs:
            producer = writers.get(path)
            if producer == step.name:
                producer = None  # a step that reads and rewrites its own file reads the project's
            file_inputs.append(FileSpec(path, _file_name(path, step.notebook), producer))
            if producer is None and path not in project_files:
                project_files[path] = FileSpec(path, identifier(path, prefix="input_"))
        data_from = {producer for _, producer in ((v.name, v.producer) for v in step.var_inputs)}
        data_from |= {f.producer for f in file_inputs if f.producer}
        after = tuple(dict.fromkeys([*step.after, *(d for d in step.depends_on if d not in data_from)]))
        hints: dict[str, list[str]] = {}
        for kind, value in step.hints:
            hints.setdefault(kind, []).append(value)
        workdir = posixpath.join(CONTAINER_ROOT, "project", posixpath.dirname(step.notebook))
        tasks.append(
            TaskSpec(
                step=step.name,
                name=identifier(step.name),
                notebook=step.notebook,
                parameters=tuple(params[(step.notebook, name)] for name in step.parameters
                                 if (step.notebook, name) in params),
                var_inputs=tuple((v.name, v.producer) for v in step.var_inputs),
                var_outputs=tuple(var for var, _ in step.consumers),
                file_inputs=tuple(file_inputs),
                file_outputs=tuple(FileSpec(p, _file_name(p, step.notebook), step.name) for p in step.file_outputs),
                metrics=tuple(step.metrics),
                after=tuple(a for a in after if a != step.name),
                hints=hints,
                notebook_json=step_notebook(pipeline, step, artifacts=f"{CONTAINER_ROOT}/artifacts",
                                            workdir=workdir.rstrip("/")),
                modules=_modules(pipeline, step, root, notes),
                nocache=step.nocache,
            )
        )
    unique = {p.name: p for p in params.values()}
    return ExportPlan(
        name=pipeline.name,
        parameters=tuple(unique[n] for n in unique),
        project_files=tuple(project_files.values()),
        tasks=tuple(tasks),
        notes=notes,
    )


def split_hint(value: str, first: bool) -> tuple[str, str]:
    """``key:value`` of a Kale hint: split at the first ``:`` (labels, annotations)
    or the last one (``limit:nvidia.com/gpu:1``)."""
    key, sep, rest = value.partition(":") if first else value.rpartition(":")
    return (key.strip(), rest.strip()) if sep else (value.strip(), "")
