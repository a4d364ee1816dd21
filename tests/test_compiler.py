"""The compiler: golden manifests, stable output, and how data moves between steps.

Golden files live in tests/fixtures/golden/. After an intended change to the
manifest or the step notebooks, regenerate them and review the diff:

    CELLPIPE_UPDATE_GOLDEN=1 python -m pytest tests/test_compiler.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from cellpipe.core import graph
from cellpipe.core.emit import dumps_manifest, step_notebook
from cellpipe.engine.project import compile_paths, write_build
from cellpipe.model import Pipeline
from conftest import FIXTURES, check_golden, compile_cells, only

GOLDEN = FIXTURES / "golden"
PIPELINE = [FIXTURES / "pipeline" / "prepare.ipynb", FIXTURES / "pipeline" / "model.ipynb"]
KALE = [FIXTURES / "kale" / "toy_classifier.ipynb"]
PAPERMILL = [FIXTURES / "papermill" / "my-analysis.ipynb"]


def compile_files(paths: list[Path]) -> Pipeline:
    result, _ = compile_paths(paths, root=paths[0].parent)
    assert not result.errors, "\n".join(d.format() for d in result.errors)
    assert result.pipeline is not None
    return result.pipeline


def pipeline_of(*notebooks, exists=lambda path: False) -> Pipeline:
    result = compile_cells(*notebooks, exists=exists)
    assert not result.errors, "\n".join(d.format() for d in result.errors)
    assert result.pipeline is not None
    return result.pipeline


def inputs(pipeline: Pipeline, step: str) -> dict[str, str]:
    return {v.name: v.producer for v in pipeline.step(step).var_inputs}


# -- golden files --------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "golden"),
    [
        (PIPELINE, "pipeline.json"),
        (KALE, "kale.json"),
        (PAPERMILL, "papermill.json"),
    ],
    ids=["two-notebooks", "kale", "papermill"],
)
def test_manifest_matches_golden(paths, golden):
    check_golden(dumps_manifest(compile_files(paths)), GOLDEN / golden)


def test_step_notebook_matches_golden():
    pipeline = compile_files(PIPELINE)
    nb = step_notebook(pipeline, pipeline.step("fit"), artifacts="artifacts", workdir=".")
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    check_golden(text, GOLDEN / "fit-step.ipynb.json")  # not .ipynb: ruff would lint it
    nbformat.validate(nbformat.reads(text, as_version=nbformat.NO_CONVERT))


def test_two_notebook_fixture_graph():
    pipeline = compile_files(PIPELINE)
    deps = {s.name: list(s.depends_on) for s in pipeline.steps}
    assert deps == {
        "load": [],
        "clean": ["load"],
        "export": ["clean"],
        "features": ["export"],  # the file data/clean.csv
        "fit": ["features"],
        "score": ["export", "features", "fit"],  # after:export, X and y, model
    }


# -- stable output -------------------------------------------------------------


def test_compiling_twice_gives_byte_identical_output(tmp_path):
    out = tmp_path / "build"
    builds = []
    for _ in range(2):
        result, root = compile_paths(PIPELINE, root=PIPELINE[0].parent)
        assert result.pipeline is not None
        write_build(result.pipeline, out, root)
        builds.append({p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()})
    assert "pipeline.json" in builds[0] and "steps/fit.ipynb" in builds[0]
    assert builds[0] == builds[1]


def test_manifest_has_no_timestamps_or_absolute_paths(tmp_path):
    result, root = compile_paths(PIPELINE, root=PIPELINE[0].parent)
    assert result.pipeline is not None
    write_build(result.pipeline, tmp_path / "build", root)
    text = (tmp_path / "build" / "pipeline.json").read_text(encoding="utf-8")
    assert str(root) not in text and str(tmp_path) not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert not re.search(r"\b\d{2}:\d{2}:\d{2}\b", text)
    assert text == dumps_manifest(result.pipeline)
    data = json.loads(text)
    assert list(data) == sorted(data)  # stable key order
    for step in data["steps"]:
        assert list(step) == sorted(step)


def test_manifest_does_not_depend_on_where_the_project_lives(tmp_path, make_notebook):
    cells = [("x = 1", ["step:prep", "out:data/x.csv"]), ("print(x)", ["step:report", "in:data/x.csv"])]
    a = make_notebook("a/project/nb.ipynb", cells)
    b = make_notebook("b/elsewhere/nb.ipynb", cells)
    assert dumps_manifest(compile_files([a])) == dumps_manifest(compile_files([b]))


def test_code_hash_ignores_outputs_and_markdown_but_not_code():
    base = [("## Load", [], "markdown"), ("x = 1", ["step:prep"]), ("print(x)", ["step:report"])]
    reworded = [("## Load the data", [], "markdown"), *base[1:]]
    changed = [base[0], ("x = 2", ["step:prep"]), base[2]]
    hashes = {
        name: {s.name: s.code_hash for s in pipeline_of(("a.ipynb", cells)).steps}
        for name, cells in [("base", base), ("reworded", reworded), ("changed", changed)]
    }
    assert hashes["base"] == hashes["reworded"]
    assert hashes["changed"]["prep"] != hashes["base"]["prep"]
    assert hashes["changed"]["report"] == hashes["base"]["report"]


# -- data flow: variables ------------------------------------------------------


def test_five_models_reading_the_same_features_are_parallel_branches():
    models = ["ridge", "lasso", "tree", "forest", "knn"]
    cells = [
        ("import numpy as np", ["imports"]),
        ("X_train = np.ones((10, 2))\ny_train = np.ones(10)", ["step:features"]),
        *[
            (f"model_{name} = make_{name}()\nmodel_{name}.fit(X_train, y_train)", [f"step:{name}"])
            for name in models
        ],
        (f"def make_{models[0]}():\n    return object()", ["functions"]),
    ]
    for name in models[1:]:
        cells.append((f"def make_{name}():\n    return object()", ["functions"]))
    pipeline = pipeline_of(("models.ipynb", cells))
    for name in models:
        step = pipeline.step(name)
        assert step.depends_on == ("features",), name
        assert inputs(pipeline, name) == {"X_train": "features", "y_train": "features"}
        assert step.mutated_inputs == ()
    deps = graph.pipeline_deps(pipeline)
    assert {graph.levels(pipeline.step_names, deps)[name] for name in models} == {1}
    assert dict(pipeline.step("features").consumers) == {"X_train": tuple(sorted(models)),
                                                          "y_train": tuple(sorted(models))}


def test_reading_a_variable_does_not_make_a_step_its_producer():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("df = load()", ["step:load"]),
                ("print(df.head())\nsummary = df.describe()\nn = len(df)", ["step:inspect"]),
                ("plot(df)", ["step:report"]),
                ("def load():\n    return 1\n\ndef plot(x):\n    return x", ["functions"]),
            ],
        )
    )
    assert inputs(pipeline, "report") == {"df": "load"}
    assert pipeline.step("report").depends_on == ("load",)


@pytest.mark.parametrize(
    "change",
    [
        "df['x'] = 1",
        "df.dropna(inplace=True)",
        "df.x = 1",
        "df.loc[0, 'x'] = 2",
        "df['x'] += 1",
        "del df['x']",
        "df.update(other)",
        "random.shuffle(df)",
    ],
)
def test_a_step_that_changes_a_variable_in_place_becomes_its_producer(change):
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("import random", ["imports"]),
                ("df = make()\nother = make()", ["step:load"]),
                (change, ["step:clean"]),
                ("print(df)", ["step:report"]),
                ("def make():\n    return {}", ["functions"]),
            ],
        )
    )
    assert inputs(pipeline, "report") == {"df": "clean"}
    assert pipeline.step("clean").mutated_inputs == ("df",)
    assert inputs(pipeline, "clean")["df"] == "load"
    assert pipeline.step_names == ["load", "clean", "report"]


def test_rebinding_a_name_makes_the_later_step_its_producer():
    pipeline = pipeline_of(
        ("a.ipynb", [("x = 1", ["step:a"]), ("x = x + 1", ["step:b"]), ("print(x)", ["step:c"])])
    )
    assert inputs(pipeline, "b") == {"x": "a"}
    assert inputs(pipeline, "c") == {"x": "b"}
    assert pipeline.step("c").depends_on == ("b",)


def test_each_variable_comes_from_the_last_earlier_step_in_notebook_order():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("x = 1", ["step:a"]),
                ("print(x)", ["step:b"]),
                ("x = 2", ["step:c"]),
                ("print(x)", ["step:d"]),
            ],
        )
    )
    assert inputs(pipeline, "b") == {"x": "a"}
    assert inputs(pipeline, "d") == {"x": "c"}


def test_variables_never_cross_notebooks():
    result = compile_cells(
        ("first.ipynb", [("table = 1", ["step:build"])]),
        ("second.ipynb", [("print(table)", ["step:use"])]),
    )
    diag = only(result.errors, "CP201")
    assert (diag.notebook, diag.cell_number) == ("second.ipynb", 1)
    assert "`table`" in diag.message


def test_files_join_steps_across_notebooks():
    pipeline = pipeline_of(
        ("a/first.ipynb", [("table = 1", ["step:build", "out:../data/table.csv"])]),
        ("b/second.ipynb", [("t = 2", ["step:use", "in:../data/table.csv"])]),
    )
    assert pipeline.step("use").depends_on == ("build",)
    assert pipeline.step("use").file_inputs == ("data/table.csv",)
    assert pipeline.step("build").file_outputs == ("data/table.csv",)
    assert pipeline.step("use").var_inputs == ()


def test_a_file_inside_an_output_folder_joins_steps():
    pipeline = pipeline_of(
        ("a.ipynb", [("x = 1", ["step:export", "out:data/"]), ("y = 2", ["step:read", "in:data/part-0.csv"])]),
    )
    assert pipeline.step("read").depends_on == ("export",)


def test_the_reading_notebook_may_come_first():
    pipeline = pipeline_of(
        ("second.ipynb", [("t = 2", ["step:use", "in:table.csv"])]),
        ("first.ipynb", [("table = 1", ["step:build", "out:table.csv"])]),
    )
    assert pipeline.step_names == ["build", "use"]


def test_after_works_across_notebooks():
    pipeline = pipeline_of(
        ("first.ipynb", [("x = 1", ["step:setup"])]),
        ("second.ipynb", [("y = 2", ["step:train", "after:setup"])]),
    )
    assert pipeline.step("train").after == ("setup",)
    assert pipeline.step("train").depends_on == ("setup",)


def test_after_on_top_of_data_dependencies():
    pipeline = pipeline_of(
        ("a.ipynb", [("x = 1", ["step:a"]), ("y = 2", ["step:b"]), ("print(x)", ["step:c", "after:b"])])
    )
    assert pipeline.step("c").depends_on == ("a", "b")
    assert pipeline.step("c").after == ("b",)


def test_steps_are_ordered_so_dependencies_come_first_ties_in_notebook_order():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [("x = 1", ["step:late", "after:early"]), ("y = 2", ["step:early"]), ("z = 3", ["step:other"])],
        )
    )
    assert pipeline.step_names == ["early", "late", "other"]


# -- imports -------------------------------------------------------------------


def test_name_imported_in_one_step_and_used_in_another_gets_the_import_copied():
    result = compile_cells(
        (
            "a.ipynb",
            [
                ("import math\nfrom statistics import mean as avg", ["step:prep"]),
                ("r = math.sqrt(2) + avg([1, 2])", ["step:calc"]),
            ],
        )
    )
    assert result.pipeline is not None and not result.errors
    calc = result.pipeline.step("calc")
    assert calc.imports == ("import math", "from statistics import mean as avg")
    assert calc.var_inputs == ()  # modules are not passed as data
    assert calc.depends_on == ()
    warnings = [d for d in result.warnings if d.code == "CP210"]
    assert [(d.cell_number, d.message) for d in warnings] == [
        (1, "`math` is imported in step 'prep' and used by step 'calc'; "
            "cellpipe repeats the import in each step that uses it"),
        (1, "`avg` is imported in step 'prep' and used by step 'calc'; "
            "cellpipe repeats the import in each step that uses it"),
    ]
    assert "`imports`" in warnings[0].fix


def test_copied_import_names_the_step_that_imports_it_not_one_that_used_it():
    result = compile_cells(
        (
            "a.ipynb",
            [
                ("import matplotlib.pyplot as plt", ["step:setup"]),
                ("fig = plt.figure()", ["step:draw"]),  # a call on plt: draw "may have changed" it
                ("plt.close('all')", ["step:tidy"]),
            ],
        )
    )
    assert result.pipeline is not None
    assert result.pipeline.step("tidy").imports == ("import matplotlib.pyplot as plt",)
    assert result.pipeline.step("tidy").var_inputs == ()
    diag = only(result.warnings, "CP210")
    assert diag.cell_number == 1
    assert "imported in step 'setup'" in diag.message


def test_compiled_step_notebook_runs_the_copied_import_before_loading():
    pipeline = pipeline_of(("a.ipynb", [("import math", ["step:prep"]), ("r = math.pi", ["step:calc"])]))
    nb = step_notebook(pipeline, pipeline.step("calc"), artifacts="artifacts", workdir=".")
    (load,) = [c for c in nb["cells"] if c["metadata"].get("cellpipe", {}).get("role") == "load"]
    assert "".join(load["source"]).startswith("import math\n")


# -- parameters ----------------------------------------------------------------

PARAMS = ("alpha = 0.5\nrows = 10\nunused = 'x'", ["parameters"])


def test_a_step_gets_only_the_parameters_it_uses():
    pipeline = pipeline_of(
        ("a.ipynb", [PARAMS, ("x = rows", ["step:load"]), ("y = x * alpha", ["step:fit"]), ("print(y)", ["step:report"])])
    )
    assert pipeline.step("load").parameters == ("rows",)
    assert pipeline.step("fit").parameters == ("alpha",)
    assert pipeline.step("report").parameters == ()
    # parameters are never passed as data
    assert inputs(pipeline, "fit") == {"x": "load"}


def test_a_step_gets_the_parameters_of_the_shared_functions_it_calls():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                PARAMS,
                ("def scale(v):\n    return v * alpha\n\ndef scaled_rows():\n    return scale(rows)", ["functions"]),
                ("x = scaled_rows()", ["step:load"]),
                ("y = scale(x)", ["step:fit"]),
                ("print(x)", ["step:report"]),
            ],
        )
    )
    assert pipeline.step("load").parameters == ("alpha", "rows")  # through scale()
    assert pipeline.step("fit").parameters == ("alpha",)
    assert pipeline.step("report").parameters == ()


def test_a_shared_class_carries_the_parameters_its_methods_read():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                PARAMS,
                ("class Scaler:\n    def apply(self, v):\n        return v * alpha", ["functions"]),
                ("s = Scaler().apply(2)", ["step:scale"]),
                ("print(s)", ["step:report"]),
            ],
        )
    )
    assert pipeline.step("scale").parameters == ("alpha",)
    assert pipeline.step("report").parameters == ()


def test_a_function_shared_code_refers_to_as_it_runs_counts_for_every_step():
    # `TABLE = {'grow': grow}` runs in every step; whether it is called is not
    # known, so every step gets `rows` (one parameter too many, never one too few)
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                PARAMS,
                ("def grow(v):\n    return v + rows\n\nTABLE = {'grow': grow}", ["functions"]),
                ("g = TABLE['grow'](1)", ["step:grow"]),
                ("print(g)", ["step:report"]),
            ],
        )
    )
    assert pipeline.step("grow").parameters == ("rows",)
    assert pipeline.step("report").parameters == ("rows",)


def test_parameters_read_by_shared_code_as_it_runs_go_to_every_step():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                PARAMS,
                ("LIMIT = rows * 2", ["functions"]),
                ("x = 1", ["step:load"]),
                ("print(x)", ["step:report"]),
            ],
        )
    )
    assert pipeline.step("load").parameters == ("rows",)
    assert pipeline.step("report").parameters == ("rows",)


def test_parameters_of_a_step_are_in_its_compiled_parameters_cell():
    pipeline = pipeline_of(("a.ipynb", [PARAMS, ("x = rows", ["step:load"]), ("y = x * alpha", ["step:fit"])]))
    nb = step_notebook(pipeline, pipeline.step("fit"), artifacts="artifacts", workdir=".")
    (cell,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(cell["source"])
    assert "alpha = 0.5" in source
    assert "rows" not in source and "unused" not in source


def test_rebinding_a_parameter_warns():
    result = compile_cells(("a.ipynb", [PARAMS, ("rows = rows + 1", ["step:load"]), ("print(rows)", ["step:report"])]))
    diag = only(result.warnings, "CP150")
    assert diag.cell_number == 2
    assert result.pipeline is not None
    assert result.pipeline.step("report").parameters == ("rows",)


# -- structure -----------------------------------------------------------------


def test_untagged_cells_join_the_step_above_and_re_entry_adds_to_a_step():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("x = 1", ["step:a"]),
                "x2 = x * 2",
                ("y = x2", ["step:b"]),
                ("z = y", ["step:c"]),
                ("w = 5", ["step:a"]),
            ],
        )
    )
    assert [c.number for c in pipeline.step("a").cells] == [1, 2, 5]
    assert [c.number for c in pipeline.step("b").cells] == [3]


def test_markdown_travels_with_its_step_and_its_tags_count():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("x = 1", ["step:a", "out:x.txt"]),
                ("## Train", ["step:train", "after:a", "in:x.txt", "image:python:3.12"], "markdown"),
                ("model = 1", []),
                ("Only for the eyes", ["skip"], "markdown"),
                ("print(model)", ["step:report"]),
            ],
        )
    )
    train = pipeline.step("train")
    assert [c.number for c in train.cells] == [2, 3]
    assert train.after == ("a",) and train.file_inputs == ("x.txt",)
    assert train.hints == (("image", "python:3.12"),)
    assert all(c.number != 4 for s in pipeline.steps for c in s.cells)


def test_markdown_just_above_a_step_belongs_to_that_step_not_the_one_above():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("x = 1", ["step:load"]),
                ("Notes on load", [], "markdown"),
                ("y = x", []),
                ("## Train", [], "markdown"),
                ("The model is a forest.", [], "markdown"),
                ("Scratch", ["skip"], "markdown"),
                ("model = y", ["step:train"]),
                ("## Back to load", [], "markdown"),
                ("z = 2", ["step:load"]),
            ],
        )
    )
    assert [c.number for c in pipeline.step("train").cells] == [4, 5, 7]
    # markdown followed by a code cell of the same step stays; re-entering a step takes its heading along
    assert [c.number for c in pipeline.step("load").cells] == [1, 2, 3, 8, 9]
    assert pipeline.step("train").depends_on == ("load",)


def test_metrics_of_a_cell_are_recorded_on_its_step():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("acc = 0.9\nloss = 0.1", ["step:evaluate"]),
                ("score = acc * 2\nprint(loss)\nprint(f'{acc}')\nscore", ["metrics"]),
            ],
        )
    )
    assert pipeline.step("evaluate").metrics == ("score", "loss", "acc")


def test_nocache_and_hints_are_kept():
    pipeline = pipeline_of(
        ("a.ipynb", [("x = 1", ["step:a", "nocache", "limit:memory:4Gi", "label:team:ml", "label:tier:gold"])])
    )
    step = pipeline.step("a")
    assert step.nocache is True
    assert step.hints == (("limit", "memory:4Gi"), ("label", "team:ml"), ("label", "tier:gold"))


def test_ipython_syntax_is_understood():
    pipeline = pipeline_of(
        (
            "a.ipynb",
            [
                ("%matplotlib inline\n!echo hi\nfiles = !ls\nx = 1", ["step:a"]),
                ("%%time\ny = x + len(files)", ["step:b"]),
            ],
        )
    )
    assert inputs(pipeline, "b") == {"files": "a", "x": "a"}


def test_syntax_error_is_reported_with_its_line():
    result = compile_cells(("a.ipynb", [("x = 1", ["step:a"]), ("y = (\nz = 2", ["step:b"])]))
    diag = only(result.errors, "CP140")
    assert diag.cell_number == 2 and diag.line is not None


def test_step_notebook_parameters_keep_python_literals_and_need_no_imports() -> None:
    # Given annotated parameters whose annotation names come from the imports cell
    result = compile_cells((
        "nb.ipynb",
        [
            ("from typing import Optional", ["imports"]),
            ("alpha: Optional[float] = None\nweights = {0: 1.0, 1: 2.0}\nshape = (2, 3)", ["parameters"]),
            ("print(alpha, weights[1], shape[0])", ["step:use"]),
        ],
    ))
    assert not result.errors
    nb = step_notebook(result.pipeline, result.pipeline.step("use"), "/tmp/a", "/tmp")
    params = "".join(next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))["source"])
    # Then the parameters cell runs before any import and keeps tuples and int keys
    assert "alpha = None  # Optional[float]" in params
    assert "weights = {0: 1.0, 1: 2.0}" in params
    assert "shape = (2, 3)" in params
    exec(compile(params, "params", "exec"), {})
