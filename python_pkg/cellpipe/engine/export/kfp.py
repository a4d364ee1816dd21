"""Export to Kubeflow Pipelines v2, with the kfp SDK and its compiler.

Each step becomes a lightweight Python component whose function calls
:func:`cellpipe.engine.export.task.run_kfp_task`: the step's compiled notebook
and ``task.json`` travel inside the component (kfp's ``embedded_artifact_path``),
so nothing is fetched at run time; the image must have cellpipe (and kfp)
installed. Parameters are typed pipeline inputs, variables and ``out:`` files
are ``Output[Artifact]``/``Input[Artifact]``, the project's ``in:`` files come in
through ``dsl.importer``, metrics are ``Output[Metrics]`` and every step keeps
its executed notebook as an artifact.

The component functions and the pipeline function are generated as Python
source (kfp reads a component's source with ``inspect``), imported from a
scratch folder, and compiled with ``kfp.compiler.Compiler``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

from cellpipe.engine.export import ExportError, ExportOptions, ExportReport, require, write_output
from cellpipe.engine.export.plan import DEFAULT_IMAGE, ExportPlan, ParamSpec, TaskSpec, make_plan, split_hint
from cellpipe.model import Pipeline

#: names the generated code uses itself: no step function, input or output may take them
_RESERVED = {"cellpipe_task", "cellpipe_pipeline", "_CELLPIPE"}

_PY_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str", "list": "list", "dict": "dict",
             "json": "str"}


def pipeline_name(name: str) -> str:
    """A name kfp accepts for a pipeline (lowercase letters, digits and ``-``)."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return (text or "cellpipe")[:128]


def _function_name(task: TaskSpec) -> str:
    """The component function's name (kfp names the component after it)."""
    return f"{task.name}_step" if task.name in _RESERVED else task.name


def _annotation(param: ParamSpec) -> str:
    base = _PY_TYPES[param.kind]
    return f"Optional[{base}]" if param.optional else base


def _default(param: ParamSpec) -> str:
    value = param.default
    if param.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return repr(value)


def _io_names(task: TaskSpec) -> tuple[str, str]:
    """The names of the executed-notebook and metrics outputs (``output_notebook``,
    ``metrics``) unless the step already uses them."""
    taken = {p.notebook_name for p in task.parameters} | {v for v, _ in task.var_inputs} | set(task.var_outputs)
    taken |= {f.name for f in (*task.file_inputs, *task.file_outputs)}
    notebook = "output_notebook" if "output_notebook" not in taken else "cellpipe_output_notebook"
    metrics = "metrics" if "metrics" not in taken else "cellpipe_metrics"
    return notebook, metrics


def _check_names(task: TaskSpec) -> None:
    names: dict[str, str] = {}
    entries = [(p.notebook_name, "parameter") for p in task.parameters]
    entries += [(v, "input variable") for v, _ in task.var_inputs]
    entries += [(v, "output variable") for v in task.var_outputs]
    entries += [(f.name, f"file {f.path}") for f in (*task.file_inputs, *task.file_outputs)]
    for name, what in entries:
        if name in _RESERVED or name.startswith("__"):
            raise ExportError(
                f"step '{task.step}' of {task.notebook}: its {what} `{name}` cannot be a KFP input or output "
                f"name (the export uses that name itself). Fix: rename `{name}` in the notebook"
            )
        if name in names and names[name] != what:
            raise ExportError(
                f"step '{task.step}' of {task.notebook}: `{name}` is both its {names[name]} and its {what}; "
                "a KFP component needs distinct names. Fix: rename one of them in the notebook"
            )
        names[name] = what


def _component_source(task: TaskSpec) -> str:
    _check_names(task)
    notebook, metrics = _io_names(task)
    required = [f"{p.notebook_name}: {_annotation(p)}" for p in task.parameters if not p.optional]
    optional = [f"{p.notebook_name}: {_annotation(p)} = None" for p in task.parameters if p.optional]
    inputs = [f"{v}: Input[Artifact]" for v, _ in task.var_inputs]
    inputs += [f"{f.name}: Input[Artifact]" for f in task.file_inputs]
    outputs = [f"{v}: Output[Artifact]" for v in task.var_outputs]
    outputs += [f"{f.name}: Output[Artifact]" for f in task.file_outputs]
    outputs.append(f"{notebook}: Output[Artifact]")
    if task.metrics:
        outputs.append(f"{metrics}: Output[Metrics]")
    args = ",\n    ".join([*required, *inputs, *outputs, *optional])

    def mapping(pairs: list[tuple[str, str]]) -> str:
        return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"

    cells = ", ".join(str(c) for c in _cell_numbers(task))
    return f'''
def {_function_name(task)}(
    {args},
):
    """cellpipe step `{task.step}` of {task.notebook} (cells {cells}), run with papermill."""
    import cellpipe.engine.export.task as cellpipe_task

    cellpipe_task.run_kfp_task(
        __KFP_EMBEDDED_ASSET_DIR,
        parameters={mapping([(p.notebook_name, p.notebook_name) for p in task.parameters])},
        var_inputs={mapping([(v, v) for v, _ in task.var_inputs])},
        file_inputs={mapping([(f.path, f.name) for f in task.file_inputs])},
        var_outputs={mapping([(v, v) for v in task.var_outputs])},
        file_outputs={mapping([(f.path, f.name) for f in task.file_outputs])},
        notebook={notebook},
        metrics={metrics if task.metrics else None},
    )
'''


def _cell_numbers(task: TaskSpec) -> list[int]:
    numbers = []
    for cell in task.notebook_json["cells"]:
        source = (cell.get("metadata", {}).get("cellpipe") or {}).get("source")
        if source and cell["metadata"]["cellpipe"].get("role") == "step":
            numbers.append(source["number"])
    return numbers


def _pipeline_source(plan: ExportPlan, file_params: dict[str, str]) -> str:
    """The pipeline function: its arguments are the pipeline's parameters; its body
    names nothing but them and ``_CELLPIPE`` (a :class:`_Builder`)."""
    params = [f"{p.name}: {_annotation(p)} = {_default(p)}" for p in plan.parameters]
    params += [f"{f.name}: str = {file_params[f.path]!r}" for f in plan.project_files]
    lines = ["def cellpipe_pipeline(", *(f"    {p}," for p in params), "):"]
    for f in plan.project_files:
        lines.append(f"    _CELLPIPE.importer({f.name}, {f.path!r})")
    for task in plan.tasks:
        args = [f"{p.notebook_name}={p.name}" for p in task.parameters]
        args += [f"{v}=_CELLPIPE.output({producer!r}, {v!r})" for v, producer in task.var_inputs]
        for f in task.file_inputs:
            if f.producer:
                out = plan.task(f.producer)
                name = next(o.name for o in out.file_outputs if o.path == f.path)
                args.append(f"{f.name}=_CELLPIPE.output({f.producer!r}, {name!r})")
            else:
                args.append(f"{f.name}=_CELLPIPE.imported({f.path!r})")
        lines.append(f"    _CELLPIPE.step({task.step!r}, {', '.join(args)})")
    return "\n".join(lines) + "\n"


class _Builder:
    """What the generated pipeline function calls while kfp compiles it."""

    def __init__(self, plan: ExportPlan, components: dict[str, Any], notes: list[str]) -> None:
        self.plan = plan
        self.components = components
        self.notes = notes
        self.dsl = require("kfp.dsl", "kfp")
        try:
            from kfp import kubernetes
        except ImportError:
            kubernetes = None
        self.kubernetes = kubernetes

        self.tasks: dict[str, Any] = {}
        self.imports: dict[str, Any] = {}

    def importer(self, uri: Any, path: str) -> None:
        task = self.dsl.importer(artifact_uri=uri, artifact_class=self.dsl.Artifact, reimport=False,
                                 metadata={"path": path})
        task.set_display_name(f"in: {path}")
        self.imports[path] = task

    def imported(self, path: str) -> Any:
        return self.imports[path].output

    def output(self, step: str, name: str) -> Any:
        return self.tasks[step].outputs[name]

    def step(self, step: str, **arguments: Any) -> None:
        task = self.components[step](**arguments)
        self.tasks[step] = task
        for other in self.plan.task(step).after:
            task.after(self.tasks[other])
        self.configure(task, step)

    def configure(self, task: Any, step: str) -> None:
        spec = self.plan.task(step)
        task.set_display_name(step)
        if spec.nocache:
            task.set_caching_options(False)
        for value in spec.hint_values("limit"):
            self._limit(task, spec, value)
        for kind, add in (("annotation", "add_pod_annotation"), ("label", "add_pod_label")):
            for value in spec.hint_values(kind):
                key, val = split_hint(value, first=True)
                if self.kubernetes is None:
                    self.notes.append(f"step '{step}': `{kind}:{value}` not applied: it needs kfp-kubernetes "
                                      "(pip install 'cellpipe[kfp]')")
                    continue
                getattr(self.kubernetes, add)(task, key, val)

    def _limit(self, task: Any, spec: TaskSpec, value: str) -> None:
        resource, amount = split_hint(value, first=False)
        try:
            if resource == "cpu":
                task.set_cpu_limit(amount)
            elif resource == "memory":
                task.set_memory_limit(amount)
            elif "gpu" in resource or "/" in resource:
                task.set_accelerator_type(resource).set_accelerator_limit(amount)
            else:
                self.notes.append(f"step '{spec.step}': `limit:{value}` not applied: KFP sets cpu, memory "
                                  "and accelerator limits only")
        except ValueError as exc:
            raise ExportError(f"step '{spec.step}' of {spec.notebook}: the hint `limit:{value}` is not a valid "
                              f"limit ({exc}). Fix: write e.g. limit:cpu:2, limit:memory:4Gi or "
                              "limit:nvidia.com/gpu:1") from exc


def _image(task: TaskSpec, pipeline: Pipeline, options: ExportOptions) -> str:
    hinted = task.hint_values("image")
    if hinted:
        return hinted[-1]
    return options.image or pipeline.settings.get("image") or DEFAULT_IMAGE


def _file_uri(path: str, root: Path, options: ExportOptions) -> str:
    if options.data_uri:
        return options.data_uri.rstrip("/") + "/" + path
    return str((root / path).resolve())


def export_kfp(pipeline: Pipeline, root: Path, output: Path, options: ExportOptions) -> ExportReport:
    """Write ``pipeline`` as a Kubeflow Pipelines v2 YAML file at ``output``."""
    require("kfp", "kfp")
    from kfp import compiler, dsl

    plan = make_plan(pipeline, root, options.overrides)
    notes = list(plan.notes)
    file_params = {f.path: _file_uri(f.path, root, options) for f in plan.project_files}
    if plan.project_files and not options.data_uri:
        notes.append("the project's in: files are imported from paths on this machine ("
                     + ", ".join(f.path for f in plan.project_files)
                     + "); for a cluster, upload them and export with --data-uri s3://BUCKET/PREFIX "
                     "(or set the input_* parameters when you start a run)")
    header = "from typing import Dict, List, Optional\n\nfrom kfp import dsl\nfrom kfp.dsl import Artifact, Input, Metrics, Output\n"
    with tempfile.TemporaryDirectory(prefix="cellpipe-kfp-") as tmp:
        scratch = Path(tmp)
        source = header + "".join(_component_source(t) for t in plan.tasks) + "\n\n" + _pipeline_source(plan, file_params)
        module_path = scratch / "cellpipe_kfp_pipeline.py"
        module_path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"cellpipe_kfp_{abs(hash(str(scratch)))}", module_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        components: dict[str, Any] = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for task in plan.tasks:
                asset = scratch / "assets" / task.name
                for rel, text in task.assets().items():
                    (asset / rel).parent.mkdir(parents=True, exist_ok=True)
                    (asset / rel).write_text(text, encoding="utf-8")
                components[task.step] = dsl.component(
                    getattr(module, _function_name(task)), base_image=_image(task, pipeline, options),
                    packages_to_install=[], install_kfp_package=False, embedded_artifact_path=str(asset),
                )
            vars(module)["_CELLPIPE"] = _Builder(plan, components, notes)  # read by the generated module
            func = dsl.pipeline(name=pipeline_name(plan.name),
                                description=f"cellpipe pipeline {plan.name!r}, exported from "
                                + ", ".join(nb.path for nb in pipeline.notebooks))(module.cellpipe_pipeline)
            package = scratch / "pipeline.yaml"
            compiler.Compiler().compile(func, package_path=str(package))
        notes.extend(str(w.message) for w in caught if issubclass(w.category, UserWarning)
                     and "Embedded artifact archive is large" in str(w.message))
        text = package.read_text(encoding="utf-8")
    output = write_output(output, text)
    return ExportReport(path=output, kind="kfp", steps=len(plan.tasks),
                        parameters=[p.name for p in plan.parameters] + [f.name for f in plan.project_files],
                        notes=list(dict.fromkeys(notes)))
