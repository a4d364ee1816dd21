"""Export to an Argo Workflows ``Workflow``, built with hera.

One container template per step runs ``python -m cellpipe.engine.export.task``;
the step's compiled notebook and ``task.json`` travel inside the template as raw
artifacts, so nothing is fetched at run time. The ``main`` DAG template has one
task per step; variables and ``out:`` files pass as artifacts (stored in the
artifact repository the cluster configures: ``artifactRepositoryRef`` names the
``artifact-repositories`` config map and leaves its key to the cluster's
default); the project's ``in:`` files are the workflow's input artifacts;
parameters are workflow parameters (strings as they are, other values as JSON);
metrics are output parameters, and each step keeps its executed notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cellpipe.engine.export import ExportError, ExportOptions, ExportReport, require, write_output
from cellpipe.engine.export.plan import (
    CONTAINER_ROOT,
    DEFAULT_IMAGE,
    ExportPlan,
    FileSpec,
    ParamSpec,
    TaskSpec,
    make_plan,
    split_hint,
)
from cellpipe.model import Pipeline

#: the config map Argo's documentation names for artifact repositories
ARTIFACT_REPOSITORIES = "artifact-repositories"
#: where a project ``in:`` file is looked up in the cluster's artifact repository without ``--data-uri``
INPUTS_KEY = "cellpipe/inputs"


def dns_name(text: str) -> str:
    """A name Argo accepts for a template or a task (lowercase letters, digits, ``-``)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name or "step")[:63]


def parameter_text(param: ParamSpec) -> str:
    """A parameter's default as Argo carries it: strings as they are, other values as JSON."""
    if param.kind in ("str", "json") and isinstance(param.default, str):
        return param.default
    if param.kind == "float" and isinstance(param.default, int) and not isinstance(param.default, bool):
        return json.dumps(float(param.default))
    return json.dumps(param.default)


def _artifact_location(hw: Any, name: str, path: str, options: ExportOptions) -> Any:
    if not options.data_uri:
        return hw.S3Artifact(name=name, key=f"{INPUTS_KEY}/{path}")
    uri = options.data_uri.rstrip("/") + "/" + path
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme == "s3":
        return hw.S3Artifact(name=name, bucket=bucket, key=key)
    if scheme == "gs":
        return hw.GCSArtifact(name=name, bucket=bucket, key=key)
    if scheme in ("http", "https"):
        return hw.HTTPArtifact(name=name, url=uri)
    raise ExportError(f"--data-uri {options.data_uri}: Argo reads input artifacts from s3://, gs:// or "
                      "https:// locations. Fix: upload the files there and pass that URI")


class _Templates:
    """Builds one container template per step."""

    def __init__(self, hw: Any, plan: ExportPlan, pipeline: Pipeline, options: ExportOptions,
                 names: dict[str, str], notes: list[str]) -> None:
        self.hw, self.plan, self.pipeline, self.options = hw, plan, pipeline, options
        self.names, self.notes = names, notes

    def image(self, task: TaskSpec) -> str:
        hinted = task.hint_values("image")
        if hinted:
            return hinted[-1]
        return self.options.image or self.pipeline.settings.get("image") or DEFAULT_IMAGE

    def resources(self, task: TaskSpec) -> Any:
        limits: dict[str, Any] = {}
        custom: dict[str, str] = {}
        for value in task.hint_values("limit"):
            resource, amount = split_hint(value, first=False)
            if not amount:
                raise ExportError(f"step '{task.step}' of {task.notebook}: the hint `limit:{value}` names no "
                                  "amount. Fix: write e.g. limit:cpu:2, limit:memory:4Gi or limit:nvidia.com/gpu:1")
            if resource == "cpu":
                limits["cpu_limit"] = amount
            elif resource == "memory":
                limits["memory_limit"] = amount
            elif resource == "ephemeral-storage":
                limits["ephemeral_limit"] = amount
            else:
                custom[resource] = amount
        if custom:
            limits["custom_resources"] = {"limits": custom}
        return self.hw.Resources(**limits) if limits else None

    def build(self, task: TaskSpec) -> Any:
        hw = self.hw
        asset = f"{CONTAINER_ROOT}/asset"
        inputs: list[Any] = [hw.Parameter(name=p.notebook_name) for p in task.parameters]
        inputs += [hw.RawArtifact(name=f"cellpipe-{name.replace('.', '-')}", path=f"{asset}/{rel}", data=text)
                   for name, (rel, text) in zip(_asset_names(task), task.assets().items(), strict=True)]
        inputs += [hw.Artifact(name=v, path=f"{CONTAINER_ROOT}/in/{v}") for v, _ in task.var_inputs]
        inputs += [hw.Artifact(name=f.name, path=f"{CONTAINER_ROOT}/in/{f.name}") for f in task.file_inputs]
        outputs: list[Any] = [hw.Artifact(name=v, path=f"{CONTAINER_ROOT}/out/{v}") for v in task.var_outputs]
        outputs += [hw.Artifact(name=f.name, path=f"{CONTAINER_ROOT}/out/{f.name}") for f in task.file_outputs]
        outputs.append(hw.Artifact(name="output-notebook", path=f"{CONTAINER_ROOT}/out/notebook.ipynb",
                                   archive=hw.NoneArchiveStrategy()))
        if task.metrics:
            outputs.append(hw.Artifact(name="metrics", path=f"{CONTAINER_ROOT}/out/metrics/metrics.json",
                                       archive=hw.NoneArchiveStrategy()))
            outputs += [hw.Parameter(name=m, value_from={"path": f"{CONTAINER_ROOT}/out/metrics/{m}",
                                                         "default": "null"}) for m in task.metrics]
        args = ["--asset", asset]
        args += [f"--param={p.notebook_name}={{{{inputs.parameters.{p.notebook_name}}}}}" for p in task.parameters]
        args += [f"--input-var={v}={CONTAINER_ROOT}/in/{v}" for v, _ in task.var_inputs]
        args += [f"--input-file={f.path}={CONTAINER_ROOT}/in/{f.name}" for f in task.file_inputs]
        args += [f"--output-var={v}={CONTAINER_ROOT}/out/{v}" for v in task.var_outputs]
        args += [f"--output-file={f.path}={CONTAINER_ROOT}/out/{f.name}" for f in task.file_outputs]
        args += ["--notebook", f"{CONTAINER_ROOT}/out/notebook.ipynb"]
        if task.metrics:
            args += ["--metrics-dir", f"{CONTAINER_ROOT}/out/metrics"]
        pod: dict[str, dict[str, str]] = {"annotations": {}, "labels": {}}
        for kind in ("annotation", "label"):
            for value in task.hint_values(kind):
                key, val = split_hint(value, first=True)
                pod[f"{kind}s"][key] = val
        return hw.Container(
            name=self.names[task.step],
            image=self.image(task),
            command=["python", "-m", "cellpipe.engine.export.task"],
            args=args,
            inputs=inputs,
            outputs=outputs,
            resources=self.resources(task),
            annotations=pod["annotations"] or None,
            labels=pod["labels"] or None,
        )


def _asset_names(task: TaskSpec) -> list[str]:
    names = []
    for rel in task.assets():
        if rel == "task.json":
            names.append("task")
        elif rel == "step.ipynb":
            names.append("notebook")
        else:
            names.append(f"module-{len(names) - 1}")
    return names


def _task_arguments(hw: Any, plan: ExportPlan, task: TaskSpec, names: dict[str, str],
                    inputs: dict[str, FileSpec]) -> list[Any]:
    args: list[Any] = [hw.Parameter(name=p.notebook_name, value=f"{{{{workflow.parameters.{p.name}}}}}")
                       for p in task.parameters]
    for var, producer in task.var_inputs:
        args.append(hw.Artifact(name=var, from_=f"{{{{tasks.{names[producer]}.outputs.artifacts.{var}}}}}"))
    for f in task.file_inputs:
        if f.producer:
            out = next(o for o in plan.task(f.producer).file_outputs if o.path == f.path)
            args.append(hw.Artifact(name=f.name,
                                    from_=f"{{{{tasks.{names[f.producer]}.outputs.artifacts.{out.name}}}}}"))
        else:
            args.append(hw.Artifact(name=f.name, from_=f"{{{{inputs.artifacts.{inputs[f.path].name}}}}}"))
    return args


def build_workflow(pipeline: Pipeline, root: Path, options: ExportOptions) -> tuple[Any, ExportPlan, list[str]]:
    """The hera ``Workflow`` of ``pipeline`` (not yet written), its plan and the notes for the user."""
    require("hera", "argo")
    import hera.workflows as hw
    from hera.workflows.models import ArtifactRepositoryRef

    plan = make_plan(pipeline, root, options.overrides)
    notes = list(plan.notes)
    names: dict[str, str] = {}
    for task in plan.tasks:
        name = dns_name(task.step)
        if name in names.values():
            name = dns_name(f"{name}-{len(names)}")
        names[task.step] = name
    project = {f.path: FileSpec(f.path, f.name.replace("input_", "input-", 1)) for f in plan.project_files}
    if project and not options.data_uri:
        notes.append("the project's in: files are read from the cluster's artifact repository under "
                     f"{INPUTS_KEY}/ (" + ", ".join(project) + "): upload them there, or export with "
                     "--data-uri s3://BUCKET/PREFIX")
    templates = _Templates(hw, plan, pipeline, options, names, notes)
    step_templates = {t.step: templates.build(t) for t in plan.tasks}
    tasks: list[Any] = []
    for task in plan.tasks:
        deps = {p for _, p in task.var_inputs} | {f.producer for f in task.file_inputs if f.producer} | set(task.after)
        tasks.append(hw.Task(name=names[task.step], template=step_templates[task.step],
                             arguments=_task_arguments(hw, plan, task, names, project),
                             dependencies=[names[d] for d in plan_order(plan, deps)] or None))
    dag = hw.DAG(name="main", tasks=tasks,
                 inputs=[hw.Artifact(name=f.name) for f in project.values()] or None)
    workflow = hw.Workflow(
        generate_name=dns_name(plan.name) + "-",
        entrypoint="main",
        arguments=[hw.Parameter(name=p.name, value=parameter_text(p)) for p in plan.parameters]
        + [_artifact_location(hw, f.name, f.path, options) for f in project.values()],
        artifact_repository_ref=ArtifactRepositoryRef(config_map=ARTIFACT_REPOSITORIES),
        labels={"cellpipe.dev/pipeline": dns_name(plan.name)},
        annotations={"cellpipe.dev/notebooks": ", ".join(nb.path for nb in pipeline.notebooks)},
        templates=[dag, *step_templates.values()],
    )
    return workflow, plan, notes


def plan_order(plan: ExportPlan, steps: set[str]) -> list[str]:
    return [t.step for t in plan.tasks if t.step in steps]


def export_argo(pipeline: Pipeline, root: Path, output: Path, options: ExportOptions) -> ExportReport:
    """Write ``pipeline`` as an Argo ``Workflow`` YAML file at ``output``."""
    workflow, plan, notes = build_workflow(pipeline, root, options)
    text = workflow.to_yaml()
    output = write_output(output, text)
    return ExportReport(path=output, kind="argo", steps=len(plan.tasks),
                        parameters=[p.name for p in plan.parameters], notes=list(dict.fromkeys(notes)))
