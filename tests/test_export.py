"""`cellpipe export kfp|argo`: the files compile with the engines' own SDKs, say what
the pipeline says (tasks, edges, typed parameters, artifacts, hints), and the KFP
export runs with kfp's local runner to the same metrics and files as `cellpipe run`.

The local-runner test is slow (each step starts a kernel): it is marked `kernel`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cellpipe.cli import main
from conftest import FIXTURES, write_notebook

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example_notebooks"

kfp = pytest.importorskip("kfp", reason="install cellpipe[kfp]")
hera = pytest.importorskip("hera", reason="install cellpipe[argo]")

# make -> (after:) fit -> report; make's out: file is report's in: file
CELLS = [
    ("import numpy as np\nimport pandas as pd\nimport helpers", ("imports",)),
    (
        "n = 3\nscale: float = 2.0\nflag = True\nlabel = 'run'\nsizes = [1, 2, 3]\n"
        "options = {'k': 2}\ndepth: int | None = None",
        ("parameters",),
    ),
    (
        "raw = pd.read_csv('data/raw.csv')\nframe = raw.assign(y=helpers.double(raw['x']) * scale)\n"
        "weights = np.arange(n, dtype=float)\n"
        "with open('data/summary.txt', 'w') as fh:\n    fh.write(label + ':' + str(len(frame)))",
        ("step:make", "in:data/raw.csv", "out:data/summary.txt", "limit:cpu:2", "limit:memory:1Gi",
         "limit:nvidia.com/gpu:1", "annotation:team:ml", "label:tier:gold"),
    ),
    (
        "assert isinstance(n, int) and isinstance(scale, float) and isinstance(sizes[0], int)\n"
        "assert isinstance(options['k'], int)\n"
        "total = float(sum(sizes) * options['k'] * n) + (depth or 0)",
        ("step:fit", "after:make", "image:python:3.11"),
    ),
    (
        "with open('data/summary.txt') as fh:\n    summary = fh.read()\n"
        "checked = flag and summary.startswith(label)",
        ("step:report", "in:data/summary.txt"),
    ),
    ("n_rows = len(frame)\nscore = total / n_rows + float(weights.sum())\nok = checked", ("metrics",)),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw.csv").write_text("x\n1\n2\n3\n4\n")
    (tmp_path / "helpers.py").write_text("def double(v):\n    return v * 2\n")
    write_notebook(tmp_path / "flow.ipynb", CELLS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def export(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def load_kfp(path: Path) -> dict[str, Any]:
    """The pipeline spec, with the platform spec (a second YAML document, when there is one) merged in."""
    docs = list(yaml.safe_load_all(path.read_text()))
    return {**docs[0], **(docs[1] if len(docs) > 1 else {})}


def tasks_of(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["root"]["dag"]["tasks"]


def executor_of(spec: dict[str, Any], task: str) -> dict[str, Any]:
    component = spec["components"][tasks_of(spec)[task]["componentRef"]["name"]]
    return spec["deploymentSpec"]["executors"][component["executorLabel"]]


# -- Kubeflow Pipelines --------------------------------------------------------


def test_kfp_export_compiles_with_the_sdk_and_says_what_the_pipeline_says(project: Path, capsys) -> None:
    # Given a three-step notebook, When it is exported
    code, out, _ = export(capsys, "kfp", "flow.ipynb", "-o", "pipeline.yaml", "--image", "registry.local/cp:1",
                          "-p", "n=4")
    assert code == 0, out
    assert "exported 3 steps to kfp" in out and str(project / "pipeline.yaml") in out
    # Then kfp's own loader reads it back as a pipeline with the notebook's parameters
    loaded = kfp.components.load_component_from_file(str(project / "pipeline.yaml"))
    assert set(loaded.component_spec.inputs) == {"n", "scale", "flag", "label", "sizes", "options", "depth",
                                                 "input_data_raw_csv"}
    spec = load_kfp(project / "pipeline.yaml")
    params = spec["root"]["inputDefinitions"]["parameters"]
    types = {name: p["parameterType"] for name, p in params.items()}
    assert types == {"n": "NUMBER_INTEGER", "scale": "NUMBER_DOUBLE", "flag": "BOOLEAN", "label": "STRING",
                     "sizes": "LIST", "options": "STRUCT", "depth": "NUMBER_INTEGER",
                     "input_data_raw_csv": "STRING"}
    defaults = {name: p.get("defaultValue") for name, p in params.items()}
    assert defaults["n"] == 4 and defaults["scale"] == 2.0 and defaults["flag"] is True  # -p n=4 is the default
    assert defaults["label"] == "run" and defaults["sizes"] == [1, 2, 3] and defaults["options"] == {"k": 2}
    assert params["depth"].get("isOptional") is True and "defaultValue" not in params["depth"]
    assert defaults["input_data_raw_csv"] == str(project / "data" / "raw.csv")

    tasks = tasks_of(spec)
    assert {"make", "fit", "report"} <= set(tasks)
    assert tasks["fit"]["dependentTasks"] == ["make"]  # after:make
    assert sorted(tasks["report"]["dependentTasks"]) == ["fit", "make"]
    # variables and out: files travel as artifacts from the producing task
    report_in = tasks["report"]["inputs"]["artifacts"]
    assert report_in["frame"]["taskOutputArtifact"] == {"producerTask": "make", "outputArtifactKey": "frame"}
    assert report_in["total"]["taskOutputArtifact"] == {"producerTask": "fit", "outputArtifactKey": "total"}
    assert report_in["file_data_summary_txt"]["taskOutputArtifact"] == {
        "producerTask": "make", "outputArtifactKey": "file_data_summary_txt"}
    # the project's in: file comes through an importer whose URI is a pipeline parameter
    importer = next(t for name, t in tasks.items() if name.startswith("importer"))
    assert importer["inputs"]["parameters"]["uri"]["componentInputParameter"] == "input_data_raw_csv"
    assert tasks["make"]["inputs"]["artifacts"]["file_data_raw_csv"]["taskOutputArtifact"]["producerTask"] == \
        next(name for name in tasks if name.startswith("importer"))
    # metrics are KFP metrics; every step keeps its executed notebook
    report_outputs = spec["components"][tasks["report"]["componentRef"]["name"]]["outputDefinitions"]["artifacts"]
    assert report_outputs["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert report_outputs["output_notebook"]["artifactType"]["schemaTitle"] == "system.Artifact"
    # Kale's hints: limits (an accelerator too), a step's own image, pod annotations and labels
    make = executor_of(spec, "make")["container"]
    assert make["image"] == "registry.local/cp:1"
    assert make["resources"]["resourceCpuLimit"] == "2" and make["resources"]["resourceMemoryLimit"] == "1Gi"
    assert make["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert make["resources"]["accelerator"]["resourceCount"] == "1"
    assert executor_of(spec, "fit")["container"]["image"] == "python:3.11"
    k8s = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    make_label = spec["components"][tasks["make"]["componentRef"]["name"]]["executorLabel"]
    assert k8s[make_label]["podMetadata"] == {"annotations": {"team": "ml"}, "labels": {"tier": "gold"}}
    # the compiled notebook and the local module travel inside the component: nothing is fetched
    program = "\n".join(make["command"])
    assert "__KFP_EMBEDDED_ARCHIVE_B64" in program and "pip install" not in program


def test_kfp_export_of_kale_example_keeps_its_graph_and_hints(tmp_path: Path, monkeypatch, capsys) -> None:
    notebook = tmp_path / "toy_classifier.ipynb"
    notebook.write_text((FIXTURES / "kale" / "toy_classifier.ipynb").read_text())
    monkeypatch.chdir(tmp_path)
    code, out, _ = export(capsys, "kfp", notebook.name, "-o", "toy.yaml")
    assert code == 0, out
    spec = load_kfp(tmp_path / "toy.yaml")
    tasks = tasks_of(spec)
    assert set(tasks) == {"loaddata", "prepare", "train", "evaluate"}
    assert tasks["evaluate"]["dependentTasks"] == ["prepare", "train"] or \
        sorted(tasks["evaluate"]["dependentTasks"]) == ["prepare", "train"]
    assert executor_of(spec, "train")["container"]["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert executor_of(spec, "loaddata")["container"]["image"] == "python:3.11"
    assert spec["root"]["inputDefinitions"]["parameters"]["test_size"] == {
        "defaultValue": 0.25, "isOptional": True, "parameterType": "NUMBER_DOUBLE"}


def test_kfp_export_of_the_bundled_examples(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = export(capsys, "kfp", "example_notebooks/breast_cancer.ipynb", "-o", str(tmp_path / "bc.yaml"))
    assert code == 0, out
    spec = load_kfp(tmp_path / "bc.yaml")
    # kfp names tasks after their components (`_` becomes `-`); the display names are the steps'
    assert set(tasks_of(spec)) == {"load", "clean", "features", "train-logreg", "train-forest", "evaluate",
                                   "report"}
    assert tasks_of(spec)["train-logreg"]["taskInfo"]["name"] == "train_logreg"
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["max_depth"] == {"isOptional": True, "parameterType": "NUMBER_INTEGER"}  # int | None = None
    code, out, _ = export(capsys, "kfp", "example_notebooks/multi/prepare.ipynb", "example_notebooks/multi/train.ipynb",
                          "-o", str(tmp_path / "wine.yaml"))
    assert code == 0, out
    tasks = tasks_of(load_kfp(tmp_path / "wine.yaml"))
    # the file one notebook writes and the other reads joins them
    assert tasks["split-wine"]["inputs"]["artifacts"]["file_data_wine_csv"]["taskOutputArtifact"] == {
        "producerTask": "clean-wine", "outputArtifactKey": "file_data_wine_csv"}


def _metrics_of_local_run(root: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    for path in root.rglob("executor_output.json"):
        data = json.loads(path.read_text())
        for name, entry in data.get("artifacts", {}).items():
            if name == "metrics":
                found.update(entry["artifacts"][0]["metadata"])
    return found


@pytest.mark.kernel
def test_the_kfp_export_runs_with_kfps_local_runner_like_cellpipe_run(project: Path, tmp_path: Path, capsys) -> None:
    # Given the pipeline run by cellpipe (depth is optional: kfp's local runner needs a value for it)
    capsys.readouterr()
    assert main(["run", "flow.ipynb", "--json", "-p", "depth=5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = next(s["metrics"] for s in summary["steps"] if s["step"] == "report")
    expected_summary = (project / "data" / "summary.txt").read_text()
    (project / "data" / "summary.txt").unlink()
    # When its KFP export runs with kfp's local runner, in this Python (no pip installs)
    assert main(["export", "kfp", "flow.ipynb", "-o", "pipeline.yaml"]) == 0
    from kfp import local

    pipeline_root = tmp_path / "kfp-root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    pipeline = kfp.components.load_component_from_file(str(project / "pipeline.yaml"))
    pipeline(depth=5)
    # Then the metrics and the out: file are those of `cellpipe run`
    assert expected == {"n_rows": 4, "score": pytest.approx(41 / 4 + 3.0), "ok": True}
    assert _metrics_of_local_run(pipeline_root) == {"n_rows": 4.0, "score": pytest.approx(41 / 4 + 3.0), "ok": 1.0}
    [summary_artifact] = list(pipeline_root.rglob("make/file_data_summary_txt"))
    assert summary_artifact.read_text() == expected_summary == "run:4"
    notebooks = sorted(p.parent.name for p in pipeline_root.rglob("output_notebook"))
    assert notebooks == ["fit", "make", "report"]
    fit_nb = json.loads(next(pipeline_root.rglob("fit/output_notebook")).read_text())
    assert fit_nb["metadata"]["papermill"]["parameters"]["depth"] == 5
    assert not (project / "data" / "summary.txt").exists()  # the tasks ran in scratch copies, not here


# -- Argo Workflows ------------------------------------------------------------


def strict_workflow_schema() -> dict[str, Any]:
    """Argo's Workflow schema as hera's generated models hold it, with unknown fields refused."""
    from hera.workflows.models import Workflow

    schema = Workflow.model_json_schema(by_alias=True)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def test_argo_export_is_a_valid_workflow_with_the_same_graph(project: Path, capsys) -> None:
    import fastjsonschema

    code, out, _ = export(capsys, "argo", "flow.ipynb", "-o", "workflow.yaml", "-p", "label=exp")
    assert code == 0, out
    assert "exported 3 steps to argo" in out and "cellpipe/inputs/" in out  # where to upload data/raw.csv
    data = yaml.safe_load((project / "workflow.yaml").read_text())
    validate = fastjsonschema.compile(strict_workflow_schema())
    validate(json.loads(json.dumps(data)))  # raises on an unknown or mistyped field (on a copy: it fills defaults)
    with pytest.raises(fastjsonschema.JsonSchemaException):  # the schema does refuse a misspelt field
        validate(json.loads(json.dumps({**data, "spec": {**data["spec"], "entrypiont": "main"}})))
    assert data["kind"] == "Workflow" and data["apiVersion"] == "argoproj.io/v1alpha1"
    spec = data["spec"]
    assert spec["artifactRepositoryRef"] == {"configMap": "artifact-repositories"}
    params = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    assert params == {"n": "3", "scale": "2.0", "flag": "true", "label": "exp", "sizes": "[1, 2, 3]",
                      "options": '{"k": 2}', "depth": "null"}
    assert spec["arguments"]["artifacts"] == [{"name": "input-data_raw_csv", "s3": {"key": "cellpipe/inputs/data/raw.csv"}}]
    templates = {t["name"]: t for t in spec["templates"]}
    tasks = {t["name"]: t for t in templates[spec["entrypoint"]]["dag"]["tasks"]}
    assert set(tasks) == {"make", "fit", "report"}
    assert tasks["fit"]["dependencies"] == ["make"]
    assert tasks["report"]["dependencies"] == ["make", "fit"]
    report_args = {a["name"]: a["from"] for a in tasks["report"]["arguments"]["artifacts"]}
    assert report_args == {"frame": "{{tasks.make.outputs.artifacts.frame}}",
                           "weights": "{{tasks.make.outputs.artifacts.weights}}",
                           "total": "{{tasks.fit.outputs.artifacts.total}}",
                           "file_data_summary_txt": "{{tasks.make.outputs.artifacts.file_data_summary_txt}}"}
    make = templates["make"]
    assert make["container"]["resources"]["limits"] == {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert make["metadata"] == {"annotations": {"team": "ml"}, "labels": {"tier": "gold"}}
    assert templates["fit"]["container"]["image"] == "python:3.11"
    raw = {a["name"]: a for a in make["inputs"]["artifacts"] if "raw" in a}
    assert json.loads(raw["cellpipe-task"]["raw"]["data"])["step"] == "make"
    assert raw["cellpipe-module-1"]["path"] == "/cellpipe/asset/project/helpers.py"
    outputs = {p["name"] for p in templates["report"]["outputs"]["parameters"]}
    assert outputs == {"n_rows", "score", "ok"}


@pytest.mark.kernel
def test_the_argo_templates_commands_run_the_steps(project: Path, tmp_path: Path, capsys) -> None:
    """No Argo here: play each template's container command in DAG order on this machine,
    with its raw artifacts written and artifact paths moved under a scratch folder."""
    assert main(["export", "argo", "flow.ipynb", "-o", "workflow.yaml"]) == 0
    spec = yaml.safe_load((project / "workflow.yaml").read_text())["spec"]
    params = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    params["depth"] = "5"
    templates = {t["name"]: t for t in spec["templates"]}
    outputs: dict[tuple[str, str], Path] = {}
    for task in templates["main"]["dag"]["tasks"]:
        template = templates[task["template"]]
        box = tmp_path / "argo" / task["name"]

        def moved(path: str, box: Path = box) -> str:
            return str(box) + path

        for artifact in template["inputs"]["artifacts"]:
            if "raw" in artifact:
                Path(moved(artifact["path"])).parent.mkdir(parents=True, exist_ok=True)
                Path(moved(artifact["path"])).write_text(artifact["raw"]["data"])
        for artifact in task.get("arguments", {}).get("artifacts", []):
            path = next(a["path"] for a in template["inputs"]["artifacts"] if a["name"] == artifact["name"])
            ref = artifact["from"]
            if ref.startswith("{{tasks."):
                _, producer, _, _, name = ref.strip("{}").split(".")
                source = outputs[(producer, name)]
            else:  # the workflow's input artifact: the project's file
                source = project / "data" / "raw.csv"
            Path(moved(path)).parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-r", str(source), moved(path)], check=True)
        values = {p["name"]: p["value"] for p in task.get("arguments", {}).get("parameters", [])}
        args = []
        for arg in template["container"]["args"]:
            for name, value in values.items():
                arg = arg.replace(f"{{{{inputs.parameters.{name}}}}}", value)
            for name, value in params.items():
                arg = arg.replace(f"{{{{workflow.parameters.{name}}}}}", value)
            args.append(arg.replace("=/cellpipe/", f"={box}/cellpipe/") if arg.startswith("--") else
                        (moved(arg) if arg.startswith("/cellpipe/") else arg))
        command = [sys.executable, *template["container"]["command"][1:], *args]
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        for artifact in template["outputs"]["artifacts"]:
            outputs[(task["name"], artifact["name"])] = Path(moved(artifact["path"]))
    metrics = json.loads(outputs[("report", "metrics")].read_text())
    assert metrics == {"n_rows": 4, "score": pytest.approx(41 / 4 + 3.0), "ok": True}
    assert outputs[("make", "file_data_summary_txt")].read_text() == "run:4"


# -- bad input -----------------------------------------------------------------


def test_an_unknown_exporter_is_a_usage_error(project: Path, capsys) -> None:
    code, _, err = export(capsys, "airflow", "flow.ipynb", "-o", "x.yaml")
    assert code == 2
    assert "unknown exporter 'airflow'" in err and "argo, kfp" in err
    assert not (project / "x.yaml").exists()


@pytest.mark.parametrize(("kind", "module", "extra"), [("kfp", "kfp", "kfp"), ("argo", "hera", "argo")])
def test_a_missing_sdk_names_the_extra_to_install(project: Path, kind: str, module: str, extra: str) -> None:
    # an interpreter in which the SDK cannot be imported, as on a machine without the extra
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"from cellpipe.cli import main\nsys.exit(main(['export', {kind!r}, 'flow.ipynb', '-o', 'x.yaml']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"pip install 'cellpipe[{extra}]'" in done.stderr
    assert not (project / "x.yaml").exists()


def test_a_notebook_with_errors_is_not_exported(tmp_path: Path, monkeypatch, capsys) -> None:
    write_notebook(tmp_path / "bad.ipynb", [("x = 1", ("step:a", "after:nowhere"))])
    monkeypatch.chdir(tmp_path)
    code, _, err = export(capsys, "kfp", "bad.ipynb", "-o", "x.yaml")
    assert code == 2 and "bad.ipynb" in err and "nowhere" in err
    assert not (tmp_path / "x.yaml").exists()


def test_a_variable_whose_name_cannot_be_an_artifact_is_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    write_notebook(tmp_path / "f.ipynb", [("données = [1]", ("step:a",)), ("print(données)", ("step:b",))])
    monkeypatch.chdir(tmp_path)
    for kind in ("kfp", "argo"):
        code, _, err = export(capsys, kind, "f.ipynb", "-o", "x.yaml")
        assert code == 2
        assert "`données`" in err and "'a'" in err and "'b'" in err and "Fix: rename" in err
    assert not (tmp_path / "x.yaml").exists()
