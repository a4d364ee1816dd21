"""Notebooks tagged for Kale, and plain papermill notebooks, compile unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from cellpipe.core.emit import manifest, step_notebook
from cellpipe.engine.project import compile_paths
from cellpipe.model import Pipeline

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KALE = FIXTURES / "kale" / "toy_classifier.ipynb"
PAPERMILL = FIXTURES / "papermill" / "my-analysis.ipynb"
UNTAGGED = FIXTURES / "papermill" / "report.ipynb"


def compile_fixture(path: Path) -> Pipeline:
    result, _ = compile_paths([path], root=path.parent)
    assert not result.diagnostics, "\n".join(d.format() for d in result.diagnostics)
    assert result.pipeline is not None
    return result.pipeline


def step_of(data: dict, name: str) -> dict:
    (step,) = [s for s in data["steps"] if s["name"] == name]
    return step


def cell_numbers(step: dict) -> list[int]:
    return [c["number"] for c in step["cells"]]


def assert_runs_with_papermill(pipeline: Pipeline) -> None:
    """Every compiled step is a valid notebook with exactly one `parameters` cell."""
    for step in pipeline.steps:
        nb = nbformat.from_dict(step_notebook(pipeline, step, artifacts="artifacts", workdir="."))
        nbformat.validate(nb)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, step.name
        assert tagged[0].cell_type == "code"
        # papermill reads the defaults from it: it must be valid Python
        compile("".join(tagged[0].source), step.name, "exec")


# -- Kale ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def kale() -> dict:
    return manifest(compile_fixture(KALE))


def test_kale_fixture_is_a_valid_notebook():
    nbformat.validate(nbformat.read(KALE, as_version=nbformat.NO_CONVERT))


def test_kale_blocks_become_steps_in_notebook_order(kale):
    assert [s["name"] for s in kale["steps"]] == ["loaddata", "prepare", "train", "evaluate"]


def test_kale_pipeline_name_and_image_come_from_kubeflow_notebook_metadata(kale):
    assert kale["name"] == "toy-classifier"
    assert kale["settings"] == {"name": "toy-classifier", "image": "python:3.11-slim"}


def test_kale_empty_block_tag_merges_into_the_step_above_and_skip_is_left_out(kale):
    # cell 5 is `block:loaddata`, cell 6 `block:` (empty), cell 7 `skip`
    loaddata = step_of(kale, "loaddata")
    code_cells = [c["number"] for c in loaddata["cells"] if c["type"] == "code"]
    assert code_cells == [5, 6]
    all_steps_cells = [n for s in kale["steps"] for n in cell_numbers(s)]
    assert 7 not in all_steps_cells


def test_kale_shared_and_parameters_cells_are_not_step_cells(kale):
    (notebook,) = kale["notebooks"]
    assert notebook["shared_cells"] == [1, 3]  # imports, functions (0-based)
    assert notebook["parameters_cell"] == 2  # pipeline-parameters
    all_steps_cells = {n for s in kale["steps"] for n in cell_numbers(s)}
    assert all_steps_cells.isdisjoint({2, 3, 4})


def test_kale_prev_tags_are_after_dependencies(kale):
    assert step_of(kale, "prepare")["after"] == ["loaddata"]
    assert step_of(kale, "train")["after"] == ["prepare"]
    assert step_of(kale, "evaluate")["after"] == ["train"]


def test_kale_dependencies_join_prev_tags_and_data(kale):
    assert step_of(kale, "loaddata")["depends_on"] == []
    assert step_of(kale, "prepare")["depends_on"] == ["loaddata"]
    assert step_of(kale, "train")["depends_on"] == ["prepare"]
    # evaluate reads `test` from prepare on top of its `prev:train`
    assert step_of(kale, "evaluate")["depends_on"] == ["prepare", "train"]
    assert step_of(kale, "evaluate")["inputs"]["variables"] == [
        {"name": "test", "from": "prepare"},
        {"name": "threshold", "from": "train"},
    ]


def test_kale_pipeline_parameters_with_defaults_and_schemas(kale):
    (notebook,) = kale["notebooks"]
    assert notebook["parameters"] == {
        "n_rows": {"default": 200, "schema": {"type": "integer"}, "literal": "200"},
        "test_size": {"default": 0.25, "schema": {"type": "number"}, "annotation": "float", "literal": "0.25"},
        "seed": {"default": 7, "schema": {"type": "integer"}, "literal": "7"},
        "model_name": {"default": "threshold", "schema": {"type": "string"}, "literal": "'threshold'"},
    }


def test_kale_steps_get_only_the_parameters_they_use(kale):
    assert step_of(kale, "loaddata")["parameters"] == ["n_rows", "seed"]
    assert step_of(kale, "prepare")["parameters"] == ["test_size"]
    assert step_of(kale, "train")["parameters"] == []
    assert all("model_name" not in s["parameters"] for s in kale["steps"])


def test_kale_pipeline_metrics_print_lines_name_metrics_of_the_step_above(kale):
    assert step_of(kale, "evaluate")["metrics"] == ["acc", "n_test"]
    assert [s["name"] for s in kale["steps"] if s["metrics"]] == ["evaluate"]


def test_kale_resource_hints_are_kept_for_exporters(kale):
    assert step_of(kale, "loaddata")["hints"] == {
        "image": ["python:3.11"],
        "annotation": ["team:ml"],
        "label": ["tier:gold"],
    }
    assert step_of(kale, "train")["hints"] == {"limit": ["nvidia.com/gpu:1"]}
    assert step_of(kale, "evaluate")["hints"] == {}


def test_kale_manifest_is_json_with_relative_paths(kale):
    text = json.dumps(kale)
    assert str(FIXTURES) not in text
    assert kale["notebooks"][0]["path"] == "toy_classifier.ipynb"


def test_kale_compiled_steps_are_papermill_notebooks():
    assert_runs_with_papermill(compile_fixture(KALE))


# -- papermill -----------------------------------------------------------------


@pytest.fixture(scope="module")
def papermill_manifest() -> dict:
    return manifest(compile_fixture(PAPERMILL))


def test_papermill_notebook_is_one_step_named_after_the_file(papermill_manifest):
    assert papermill_manifest["name"] == "my-analysis"
    (step,) = papermill_manifest["steps"]
    assert step["name"] == "my-analysis"
    assert step["notebook_file"] == "steps/my-analysis.ipynb"
    # every cell but the parameters cell (cell 2), markdown included
    assert cell_numbers(step) == [1, 3, 4, 5]
    assert step["depends_on"] == [] and step["inputs"]["variables"] == []


def test_papermill_parameters_keep_their_defaults_and_types(papermill_manifest):
    (notebook,) = papermill_manifest["notebooks"]
    assert notebook["parameters"] == {
        "region": {"default": "emea", "schema": {"type": "string"}, "literal": "'emea'"},
        "year": {"default": 2024, "schema": {"type": "integer"}, "literal": "2024"},
        "threshold": {"default": 0.5, "schema": {"type": "number"}, "literal": "0.5"},
        "verbose": {"default": False, "schema": {"type": "boolean"}, "literal": "False"},
        "columns": {"default": ["a", "b"], "schema": {"type": "array"}, "literal": "['a', 'b']"},
        "limits": {"default": {"low": 1}, "schema": {"type": "object"}, "literal": "{'low': 1}"},
        "note": {"default": None, "schema": {}, "literal": "None"},
    }
    (step,) = papermill_manifest["steps"]
    assert step["parameters"] == ["region", "threshold", "year"]


def test_papermill_compiled_step_has_one_parameters_cell_with_the_defaults():
    pipeline = compile_fixture(PAPERMILL)
    assert_runs_with_papermill(pipeline)
    nb = step_notebook(pipeline, pipeline.steps[0], artifacts="artifacts", workdir=".")
    (params,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(params["source"])
    assert "region = 'emea'" in source
    assert "year = 2024" in source
    assert "threshold = 0.5" in source
    assert "verbose" not in source  # declared, but the step does not use it


def test_untagged_notebook_is_one_step_named_after_the_file():
    pipeline = compile_fixture(UNTAGGED)
    data = manifest(pipeline)
    (step,) = data["steps"]
    assert step["name"] == "report"
    assert cell_numbers(step) == [1, 2, 3, 4]
    assert data["notebooks"][0]["parameters"] == {}
    assert_runs_with_papermill(pipeline)


@pytest.mark.parametrize(
    ("file_name", "step_name"),
    [
        ("my-analysis.ipynb", "my-analysis"),
        ("Sales Report.ipynb", "sales_report"),
        ("2024_review.ipynb", "_2024_review"),
    ],
)
def test_one_step_pipeline_name_is_a_valid_step_name(make_notebook, file_name, step_name):
    path = make_notebook(file_name, ["x = 1", "print(x)"])
    result, _ = compile_paths([path], root=path.parent)
    assert not result.errors
    assert result.pipeline is not None
    assert result.pipeline.step_names == [step_name]


def test_nbformat_4_4_notebook_without_cell_ids_or_display_name_compiles_to_valid_steps(tmp_path):
    # as older Jupyter, VS Code or a script writes them
    nb = {
        "nbformat": 4,
        "nbformat_minor": 4,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}, "language_info": {"version": "3.11"}},
        "cells": [
            {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "n = 3", "outputs": [],
             "execution_count": None},
            {"cell_type": "code", "metadata": {"tags": ["step:make"]}, "source": ["x = list(range(n))\n"],
             "outputs": [], "execution_count": 1},
            {"cell_type": "markdown", "metadata": {}, "source": "Then we sum."},
            {"cell_type": "code", "metadata": {"tags": ["step:sum"]}, "source": "total = sum(x)", "outputs": [],
             "execution_count": 2},
        ],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    pipeline = compile_fixture(path)
    assert pipeline.step_names == ["make", "sum"]
    assert [c.id for c in pipeline.step("make").cells] == [None]
    assert [c.id for c in pipeline.step("sum").cells] == [None, None]  # the markdown above sum goes with sum
    assert_runs_with_papermill(pipeline)


def test_step_notebook_replaces_cell_ids_nbformat_would_reject(make_notebook):
    path = make_notebook("a.ipynb", [("x = 1", ["step:a"]), ("y = x", [])])
    data = json.loads(path.read_text(encoding="utf-8"))
    data["cells"][0]["id"] = "has spaces"
    data["cells"][1]["id"] = "x" * 80
    path.write_text(json.dumps(data), encoding="utf-8")
    assert_runs_with_papermill(compile_fixture(path))


def test_kale_cell_with_two_block_tags_goes_into_both_steps(make_notebook):
    path = make_notebook(
        "kale_multi.ipynb",
        [
            ("data = list(range(10))", ["block:load"]),
            ("loader = iter(data)", ["block:train_a", "block:train_b", "prev:load"]),
            ("a = sum(loader)", []),
            ("b = max(data)", ["block:train_b"]),
        ],
    )
    result, _ = compile_paths([path], root=path.parent)
    assert result.errors == []
    assert result.pipeline is not None
    assert [c.number for c in result.pipeline.step("train_b").cells][0] == 2
    assert 2 in [c.number for c in result.pipeline.step("train_a").cells]
    # each step runs the shared cell itself: `loader` is made in both, `data` comes from load
    for name in ("train_a", "train_b"):
        step = result.pipeline.step(name)
        assert [(v.name, v.producer) for v in step.var_inputs] == [("data", "load")]
        assert step.depends_on == ("load",)
