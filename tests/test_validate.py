"""`cellpipe validate` catches every problem a user can make, and says where and how to fix it.

Each test builds the smallest notebook that shows one problem, then checks what
the user reads: the code, the notebook, the cell number as JupyterLab shows it
(counting from 1, markdown included) and the suggested fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cellpipe.cli import main
from cellpipe.engine.project import compile_paths
from conftest import compile_cells, only


def validate(*paths: Path):
    result, _ = compile_paths(list(paths), root=paths[0].parent)
    return result


# -- tags ----------------------------------------------------------------------


def test_misspelled_tag_suggests_the_right_spelling():
    result = compile_cells(("train.ipynb", [("x = 1", ["setp:train"]), ("print(x)", ["step:report"])]))
    diag = only(result.errors, "CP101")
    assert diag.notebook == "train.ipynb"
    assert diag.cell_number == 1
    assert "'setp:train'" in diag.message
    assert diag.fix == "did you mean 'step:train'?"
    assert diag.format().startswith("train.ipynb: cell 1: error CP101: unknown tag 'setp:train'")


@pytest.mark.parametrize(
    ("tag", "suggestion"),
    [
        ("setp:train", "step:train"),
        ("aftr:prep", "after:prep"),
        ("ouput:model.pkl", "out:model.pkl"),
        ("paramters", "parameters"),
        ("import", "imports"),
        ("metric", "metrics"),
    ],
)
def test_unknown_tags_get_the_closest_known_spelling(tag, suggestion):
    result = compile_cells(("a.ipynb", [("x = 1", ["step:prep"]), ("y = x", [tag])]))
    diag = only(result.errors, "CP101")
    assert diag.cell_number == 2
    assert diag.fix == f"did you mean '{suggestion}'?"


def test_tags_of_other_tools_are_not_errors():
    result = compile_cells(("a.ipynb", [("x = 1", ["step:prep", "hide-input", "remove-output", "my-own-tag"])]))
    assert result.diagnostics == []


@pytest.mark.parametrize(
    ("tag", "fix"),
    [
        ("step:Train Model", "write 'step:train_model'"),
        ("step:1st", "write 'step:_1st'"),
        ("block:load.data", "write 'block:load_data'"),
    ],
)
def test_bad_step_name_says_what_a_name_is_and_suggests_one(tag, fix):
    result = compile_cells(("a.ipynb", [("x = 1", ["step:prep"]), ("y = x", [tag])]))
    diag = only(result.errors, "CP102")
    assert diag.cell_number == 2
    assert "lowercase letters, digits, '_' and '-'" in diag.message
    assert diag.fix == fix


def test_after_naming_a_missing_step_suggests_the_closest():
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:train"]), ("print(x)", ["step:evaluate", "after:trian"])])
    )
    diag = only(result.errors, "CP104")
    assert (diag.notebook, diag.cell_number) == ("a.ipynb", 2)
    assert "`after:trian`" in diag.message
    assert diag.fix == "did you mean 'after:train'?"


def test_after_naming_a_missing_step_lists_the_steps_when_nothing_is_close():
    result = compile_cells(("a.ipynb", [("x = 1", ["step:train"]), ("print(x)", ["step:evaluate", "after:zzz"])]))
    diag = only(result.errors, "CP104")
    assert diag.fix == "known steps: train, evaluate"


# -- the graph -----------------------------------------------------------------


def test_cycle_of_after_tags_names_every_step_in_it():
    result = compile_cells(
        (
            "a.ipynb",
            [
                ("x = 1", ["step:load", "after:report"]),
                ("y = x + 1", ["step:fit"]),
                ("print(y)", ["step:report"]),
            ],
        )
    )
    diag = only(result.errors, "CP240")
    assert result.pipeline is None
    assert diag.notebook == "a.ipynb" and diag.cell_number == 1
    assert "load -> fit -> report -> load" in diag.message
    assert "`after:`" in diag.fix


def test_cycle_through_a_re_entered_step_says_which_cell_re_enters_it():
    result = compile_cells(
        (
            "a.ipynb",
            [
                ("x = 1", ["step:prep"]),
                ("y = x + 1", ["step:fit"]),
                ("z = y * 2", ["step:prep"]),  # prep again: needs fit, which needs prep
            ],
        )
    )
    diag = only(result.errors, "CP240")
    assert "prep -> fit -> prep" in diag.message
    assert "cell 3" in diag.fix
    assert "re-enter" in diag.fix


# -- data flow -----------------------------------------------------------------


def test_variable_no_earlier_step_defines():
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep"]), ("print(x)\nprint(total)", ["step:report"])])
    )
    diag = only(result.errors, "CP201")
    assert (diag.notebook, diag.cell_number, diag.line) == ("a.ipynb", 2, 2)
    assert "step 'report' uses `total`" in diag.message
    assert "`parameters`, `imports` or `functions`" in diag.fix
    assert diag.format().startswith("a.ipynb: cell 2: line 2: error CP201:")


def test_variable_defined_only_in_a_skipped_cell_says_so():
    result = compile_cells(("a.ipynb", [("x = 1", ["skip"]), ("print(x)", ["step:report"])]))
    diag = only(result.errors, "CP201")
    assert "set in cell 1, which is tagged `skip`" in diag.message
    assert "remove the `skip` tag" in diag.fix


def test_variable_defined_only_later_points_at_where_it_is_set():
    result = compile_cells(
        ("a.ipynb", [("print(total)", ["step:report"]), ("total = 3", ["step:count"])])
    )
    diag = only(result.errors, "CP201")
    assert diag.cell_number == 1
    assert "first set later, in step 'count', cell 2" in diag.message
    assert "move that cell above this one" in diag.fix


def test_step_of_comments_only_is_a_step_that_does_nothing():
    # jupytext turns a script's closing `# %%` section of notes into such a cell
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep"]), ("# TODO", ["step:train"]), ("", []), ("y = x", ["step:report"])])
    )
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    assert [s.name for s in result.pipeline.steps] == ["prep", "train", "report"]
    assert result.pipeline.step("train").var_inputs == ()


def test_step_of_markdown_only_has_no_code():
    result = compile_cells(("a.ipynb", [("x = 1", ["step:prep"]), ("## Notes", ["step:notes"], "markdown")]))
    diag = only(result.errors, "CP130")
    assert (diag.cell_number, diag.message) == (2, "step 'notes' has no code")
    assert "`step:notes`" in diag.fix


def test_re_entered_step_reading_its_own_value_after_another_step_set_it_again():
    # top to bottom, cell 3 prints 2; the compiled step `prep` would print 1
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep"]), ("x = 2", ["step:fit"]), ("print(x)\nprint(x)", ["step:prep"])])
    )
    diag = only(result.errors, "CP202")
    assert (diag.notebook, diag.cell_number, diag.line) == ("a.ipynb", 3, 1)
    assert "step 'prep' uses `x` from its own cell 1, but step 'fit' sets it again in cell 2" in diag.message
    assert "cell 3" in diag.fix


def test_re_entered_step_reading_a_value_another_step_may_have_changed_in_place_warns():
    result = compile_cells(
        ("a.ipynb", [("df = {}", ["step:prep"]), ("df['k'] = 1", ["step:fit"]), ("print(df)", ["step:prep"])])
    )
    diag = only(result.warnings, "CP203")
    assert diag.cell_number == 3
    assert "may change it in place in cell 2" in diag.message
    assert result.errors == []


def test_re_entered_step_whose_values_nobody_else_changed_is_fine():
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep"]), ("print(x)", ["step:fit"]), ("y = x + 1", ["step:prep"])])
    )
    assert result.diagnostics == []


@pytest.mark.parametrize(
    "cells",
    [
        [],
        [("# Notes only", [], "markdown")],
        [("x = 1", ["skip"])],
        [("alpha = 1", ["parameters"]), ("import os", ["imports"])],
    ],
    ids=["empty", "markdown", "skip", "parameters"],
)
def test_notebook_without_code_to_run_adds_no_step_and_warns(cells):
    result = compile_cells(("notes.ipynb", cells))
    diag = only(result.diagnostics, "CP131")
    assert diag.severity == "warning" and diag.notebook == "notes.ipynb" and diag.cell is None
    assert result.pipeline is not None and result.pipeline.steps == ()


# -- parameters ----------------------------------------------------------------


def test_two_parameters_cells():
    result = compile_cells(
        ("a.ipynb", [("alpha = 1", ["parameters"]), ("x = alpha", ["step:prep"]), ("beta = 2", ["parameters"])])
    )
    diag = only(result.errors, "CP120")
    assert diag.cell_number == 3
    assert "the first is cell 1" in diag.message
    assert diag.fix == "merge the two into one cell tagged `parameters`"


def test_kale_and_papermill_parameters_cells_count_as_two():
    result = compile_cells(
        ("a.ipynb", [("alpha = 1", ["parameters"]), ("beta = 2", ["pipeline-parameters"]), ("x = 1", ["step:a"])])
    )
    assert only(result.errors, "CP120").cell_number == 2


def test_a_line_computed_from_a_parameter_is_accepted_with_a_warning_that_overrides_miss_it():
    result = compile_cells(
        ("a.ipynb", [("rows = 100\ncols = rows * 2", ["parameters"]), ("x = rows + cols", ["step:prep"])])
    )
    assert result.ok
    diag = only(result.warnings, "CP123")
    assert (diag.notebook, diag.cell_number, diag.line) == ("a.ipynb", 1, 2)
    assert "`cols = rows * 2`" in diag.message and "-p rows=... does not reach it" in diag.message
    assert "move the line into the first step that uses it" in diag.fix
    assert [p.name for p in result.pipeline.notebooks[0].parameters] == ["rows"]
    assert result.pipeline.step("prep").var_inputs == ()  # cols comes from the parameters cell


@pytest.mark.parametrize("source", [
    "import os\nrows = 100", "rows = 100\nprint(rows)", "# comment\nrows = 100\npass",
    "import math\nrows = 100\nhalf = math.pi / 2", "%matplotlib inline\nrows = 100",
])
def test_lines_an_override_does_not_need_to_reach_are_accepted_quietly(source):
    result = compile_cells(("a.ipynb", [(source, ["parameters"]), ("x = rows", ["step:prep"])]))
    assert result.ok and result.diagnostics == [], [d.format() for d in result.diagnostics]


def test_a_line_that_changes_a_parameter_is_accepted_with_a_warning():
    result = compile_cells(("a.ipynb", [("rows = 100\nrows += 1", ["parameters"]), ("x = rows", ["step:prep"])]))
    assert result.ok
    diag = only(result.warnings, "CP123")
    assert "changes parameter `rows`" in diag.message and diag.line == 2


def test_parameter_assigned_twice_keeps_the_last_value_like_python_does():
    result = compile_cells(("a.ipynb", [("rows = 100\nrows = 200", ["parameters"]), ("x = rows", ["step:prep"])]))
    diag = only(result.warnings, "CP122")
    assert (diag.cell_number, diag.line) == (1, 2)
    assert "`rows`" in diag.message and "200" in diag.message
    assert diag.fix == "keep one assignment per parameter"
    assert result.errors == []
    assert result.pipeline is not None
    (param,) = result.pipeline.notebooks[0].parameters
    assert param.default == 200


# -- notebooks that are not notebooks ------------------------------------------


def test_notebook_that_is_not_json(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [', encoding="utf-8")
    result = validate(path)
    diag = only(result.errors, "CP001")
    assert diag.notebook == "broken.ipynb" and diag.cell is None
    assert "not valid JSON (line 1, column 12" in diag.message
    assert diag.fix


@pytest.mark.parametrize(
    "content",
    [
        '{"name": "my-package", "version": "1.0.0"}',
        "[1, 2, 3]",
        '"just a string"',
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": [], "cells": []}',
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": "python3"}, "cells": []}',
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {"cellpipe": [1]}, "cells": []}',
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kubeflow_notebook": "x"}, "cells": []}',
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}',
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": 3}]}',
    ],
)
def test_json_that_is_not_a_notebook_is_reported_not_raised(tmp_path, content):
    path = tmp_path / "data.ipynb"
    path.write_text(content, encoding="utf-8")
    result = validate(path)
    diag = only(result.errors, "CP001")
    assert diag.notebook == "data.ipynb"
    assert diag.message.startswith("this file is not a") and "notebook" in diag.message
    assert diag.fix


def test_json_object_without_notebook_keys_is_not_called_an_old_nbformat(tmp_path):
    path = tmp_path / "package.ipynb"
    path.write_text('{"name": "my-package"}', encoding="utf-8")
    diag = only(validate(path).errors, "CP001")
    assert "None" not in diag.message
    assert "not a notebook" in diag.message


def test_missing_notebook_fix_is_about_the_path(make_notebook, tmp_path):
    real = make_notebook("real.ipynb", ["x = 1"])
    diag = only(validate(real, tmp_path / "missing.ipynb").errors, "CP001")
    assert diag.notebook == "missing.ipynb"
    assert "does not exist" in diag.message
    assert "path" in diag.fix


def test_bad_notebook_does_not_hide_problems_in_the_others(make_notebook, tmp_path):
    good = make_notebook("good.ipynb", [("print(nothing)", ["step:report"])])
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json", encoding="utf-8")
    result = validate(good, bad)
    assert {(d.code, d.notebook) for d in result.errors} == {("CP201", "good.ipynb"), ("CP001", "bad.ipynb")}


# -- files and several notebooks -----------------------------------------------


def test_in_file_that_no_step_writes_and_does_not_exist():
    result = compile_cells(("nb/a.ipynb", [("x = 1", ["step:prep", "in:data/raw.csv"])]))
    diag = only(result.errors, "CP230")
    assert (diag.notebook, diag.cell_number) == ("nb/a.ipynb", 1)
    assert "'nb/data/raw.csv'" in diag.message  # shown from the pipeline root
    assert "`out:`" in diag.fix and "relative to the notebook's folder" in diag.fix


def test_in_file_that_exists_is_fine(make_notebook, tmp_path):
    (tmp_path / "raw.csv").write_text("a\n1\n", encoding="utf-8")
    path = make_notebook("a.ipynb", [("x = 1", ["step:prep", "in:raw.csv"])])
    assert validate(path).diagnostics == []


def test_in_file_another_step_writes_needs_not_exist():
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep", "out:clean.csv"]), ("y = 2", ["step:fit", "in:clean.csv"])])
    )
    assert result.errors == []
    assert result.pipeline is not None and result.pipeline.step("fit").depends_on == ("prep",)


def test_step_name_used_in_two_notebooks_names_both_places():
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep"])]),
        ("sub/b.ipynb", [("## B", [], "markdown"), ("y = 1", ["step:prep"])]),
    )
    diag = only(result.errors, "CP103")
    assert (diag.notebook, diag.cell_number) == ("sub/b.ipynb", 2)
    assert "'prep'" in diag.message and "a.ipynb cell 1" in diag.message
    assert diag.fix == "rename one of the two steps"


def test_two_untagged_notebooks_with_the_same_file_name_say_how_to_name_the_step():
    result = compile_cells(("a/report.ipynb", ["x = 1"]), ("b/report.ipynb", ["y = 2"]))
    diag = only(result.errors, "CP103")
    assert diag.notebook == "b/report.ipynb"
    assert "'report'" in diag.message and "a/report.ipynb cell 1" in diag.message
    assert "has no step tags" in diag.fix and "`step:NAME`" in diag.fix


def test_in_file_only_the_step_itself_writes():
    result = compile_cells(("a.ipynb", [("x = 1", ["step:log", "in:log.txt", "out:log.txt"])]))
    diag = only(result.errors, "CP230")
    assert "only this step writes it" in diag.message


def test_two_steps_writing_the_same_file():
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep", "out:data.csv"]), ("y = 1", ["step:fit", "out:./data.csv"])])
    )
    diag = only(result.errors, "CP220")
    assert (diag.notebook, diag.cell_number) == ("a.ipynb", 2)
    assert "'data.csv'" in diag.message
    assert "'fit'" in diag.message and "'prep'" in diag.message and "a.ipynb cell 1" in diag.message
    assert diag.fix


def test_two_notebooks_writing_the_same_file_from_different_folders():
    result = compile_cells(
        ("a.ipynb", [("x = 1", ["step:prep", "out:out/data.csv"])]),
        ("sub/b.ipynb", [("y = 1", ["step:fit", "out:../out/data.csv"])]),
    )
    diag = only(result.errors, "CP220")
    assert diag.notebook == "sub/b.ipynb"
    assert "'out/data.csv'" in diag.message


def test_the_same_notebook_named_twice_is_compiled_once(make_notebook):
    path = make_notebook("a.ipynb", [("x = 1", ["step:prep"])])
    result, _ = compile_paths([path, path], root=path.parent)
    assert result.errors == []
    assert only(result.warnings, "CP003").notebook == "a.ipynb"
    assert result.pipeline is not None and result.pipeline.step_names == ["prep"]


# -- the command ---------------------------------------------------------------


def test_cli_validate_exits_2_and_prints_each_problem_and_a_summary(make_notebook, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_notebook("a.ipynb", [("x = 1", ["setp:prep"]), ("print(y)", ["step:report"])])
    code = main(["validate", "a.ipynb"])
    out = capsys.readouterr().out
    assert code == 2
    assert "a.ipynb: cell 1: error CP101: unknown tag 'setp:prep'\n    fix: did you mean 'step:prep'?" in out
    assert "a.ipynb: cell 2: line 1: error CP201:" in out
    assert out.rstrip().splitlines()[-1] == "2 errors, 1 warning in 1 notebook"


def test_cli_validate_exits_0_with_only_warnings(make_notebook, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_notebook("a.ipynb", [("import math", ["step:prep"]), ("print(math.pi)", ["step:report"])])
    code = main(["validate", "a.ipynb"])
    out = capsys.readouterr().out
    assert code == 0
    assert "warning CP210" in out
    assert out.rstrip().splitlines()[-1] == "0 errors, 1 warning in 1 notebook, 2 steps"


def test_cli_validate_clean_notebook(make_notebook, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_notebook("a.ipynb", [("x = 1", ["step:prep"]), ("print(x)", ["step:report"])])
    assert main(["validate", "a.ipynb"]) == 0
    assert capsys.readouterr().out == "0 errors, 0 warnings in 1 notebook, 2 steps\n"


def test_cli_validate_reports_a_broken_notebook_without_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.ipynb").write_text("{", encoding="utf-8")
    assert main(["validate", "broken.ipynb"]) == 2
    captured = capsys.readouterr()
    assert "broken.ipynb: error CP001: " in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_cli_validate_json_parses(make_notebook, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_notebook("a.ipynb", [("x = 1", ["step:prep"]), ("print(x)", ["step:report", "after:prepp"])])
    code = main(["validate", "--json", "a.ipynb"])
    data = json.loads(capsys.readouterr().out)
    assert code == 2
    assert data["ok"] is False
    (diag,) = data["diagnostics"]
    assert diag == {
        "severity": "error",
        "code": "CP104",
        "message": "`after:prepp` names a step that does not exist",
        "notebook": "a.ipynb",
        "cell": 1,
        "cell_number": 2,
        "cell_id": "cell-1",
        "line": None,
        "fix": "did you mean 'after:prep'?",
    }


def test_cli_validate_json_on_a_clean_notebook(make_notebook, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_notebook("a.ipynb", [("x = 1", ["step:prep"])])
    assert main(["validate", "--json", "a.ipynb"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "diagnostics": []}


def test_every_problem_names_its_notebook_and_a_fix_and_they_come_in_cell_order():
    result = compile_cells(
        (
            "a.ipynb",
            [
                ("print('before any step')", []),
                ("alpha = 1\nbeta = alpha + 1\ngamma: int = 'x'", ["parameters"]),
                ("x = 1", ["setp:prep"]),
                ("x = (", ["step:Bad Name"]),
                ("y = missing", ["step:fit", "after:prepp", "in:nowhere.csv", "out:o.csv"]),
                ("alpha = 2", ["step:tune", "out:o.csv"]),
                ("z = 1", ["parameters"]),
                ("## nothing", ["step:empty"], "markdown"),
            ],
        ),
        ("b.ipynb", [("print(x)", ["step:fit"])]),
    )
    codes = {d.code for d in result.diagnostics}
    assert {"CP101", "CP102", "CP104", "CP111", "CP120", "CP121", "CP123", "CP130", "CP140", "CP150", "CP201",
            "CP220", "CP230", "CP103"} <= codes
    for diag in result.diagnostics:
        assert diag.notebook in ("a.ipynb", "b.ipynb"), diag.format()
        assert diag.fix, diag.format()
        if diag.cell is not None:
            assert diag.cell_id == f"cell-{diag.cell}", diag.format()
    places = [(d.notebook, d.cell if d.cell is not None else -1) for d in result.diagnostics]
    assert places == sorted(places)
