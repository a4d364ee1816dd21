"""Reading a ``parameters`` cell (papermill's, or Kale's ``pipeline-parameters``)
into typed pipeline parameters, and a ``metrics`` cell into metric names."""

from __future__ import annotations

import pytest

from cellpipe.core.parameters import ParamLine, ParamProblem, emitted_source, metric_names, parse_parameters


def params(source: str) -> list[tuple[str, object, dict[str, object]]]:
    """(name, default, schema) of each parameter, failing if the cell has problems."""
    cell = parse_parameters(source)
    assert cell.problems == [], cell.problems
    return [(p.name, p.default, p.schema) for p in cell.params]


# -- values and their types -------------------------------------------------------

VALUES = [
    # (source, name, default, schema)
    ("n = 5", "n", 5, {"type": "integer"}),
    ("n = -3", "n", -3, {"type": "integer"}),
    ("n = +3", "n", 3, {"type": "integer"}),
    ("n = 1_000", "n", 1000, {"type": "integer"}),
    ("rate = 0.1", "rate", 0.1, {"type": "number"}),
    ("rate = -1.5e-3", "rate", -0.0015, {"type": "number"}),
    ("name = 'iris'", "name", "iris", {"type": "string"}),
    ('path = "data/raw.csv"', "path", "data/raw.csv", {"type": "string"}),
    ("flag = True", "flag", True, {"type": "boolean"}),
    ("flag = False", "flag", False, {"type": "boolean"}),
    ("limit = None", "limit", None, {}),  # no annotation: None accepts anything
    ("cols = ['a', 'b']", "cols", ["a", "b"], {"type": "array"}),
    ("cols = []", "cols", [], {"type": "array"}),
    ("size = (10, 6)", "size", [10, 6], {"type": "array"}),
    ("size = ()", "size", [], {"type": "array"}),
    ("ids = {3, 1}", "ids", [1, 3], {"type": "array"}),
    ("opts = {'depth': 3, 'tags': ['x']}", "opts", {"depth": 3, "tags": ["x"]}, {"type": "object"}),
    ("opts = {}", "opts", {}, {"type": "object"}),
    ("mix = [None, True, 1.5, 'a']", "mix", [None, True, 1.5, "a"], {"type": "array"}),
    # annotated
    ("n: int = 5", "n", 5, {"type": "integer"}),
    ("rate: float = 1", "rate", 1, {"type": "number"}),
    ("name: str = 'a'", "name", "a", {"type": "string"}),
    ("flag: bool = False", "flag", False, {"type": "boolean"}),
    ("cols: list[str] = ['a']", "cols", ["a"], {"type": "array"}),
    ("cols: List[str] = []", "cols", [], {"type": "array"}),
    ("size: tuple[int, ...] = (1,)", "size", [1], {"type": "array"}),
    ("opts: dict[str, int] = {}", "opts", {}, {"type": "object"}),
    ("x: int | None = None", "x", None, {"type": ["integer", "null"]}),
    ("x: None | str = 'a'", "x", "a", {"type": ["null", "string"]}),
    ("x: Optional[float] = None", "x", None, {"type": ["null", "number"]}),
    ("x: typing.Optional[int] = 3", "x", 3, {"type": ["null", "integer"]}),
    ("x: Optional[int | str] = None", "x", None, {"type": ["null", "integer", "string"]}),
    ("x: Union[int, str] = 1", "x", 1, {"type": ["integer", "string"]}),
    ("x: float | int = 1", "x", 1, {"type": "number"}),  # number already holds integers
    ("x: 'int' = 1", "x", 1, {"type": "integer"}),
    ("x: 'int | None' = None", "x", None, {"type": ["integer", "null"]}),
    ("x: Literal['a', 'b'] = 'a'", "x", "a", {"type": "string"}),
    ("x: None = None", "x", None, {"type": "null"}),
    # `str = None`: None is allowed, as old-style implicit Optional hints meant
    ("path: str = None", "path", None, {"type": ["string", "null"]}),
    ("x: int | str = None", "x", None, {"type": ["integer", "string", "null"]}),
    # Any accepts everything
    ("x: Any = 1", "x", 1, {}),
    ("x: Optional[Any] = None", "x", None, {}),
    # annotations it does not understand: the type comes from the value
    ("x: Path = 'data'", "x", "data", {"type": "string"}),
    ("x: np.float64 = 1.0", "x", 1.0, {"type": "number"}),
    ("x: Optional[Foo] = None", "x", None, {}),
]


@pytest.mark.parametrize(
    "source, name, default, schema", VALUES, ids=[row[0] for row in VALUES]
)
def test_a_literal_assignment_is_a_typed_parameter(source, name, default, schema):
    assert params(source) == [(name, default, schema)]


def test_each_parameter_keeps_its_line_and_annotation():
    source = "# Parameters\nn_estimators: int = 100  # trees\n\nmax_depth = None\ncols: list[str] = ['a']\n"
    assert parse_parameters(source).params == [
        ParamLine("n_estimators", 100, {"type": "integer"}, 2, "int", "100"),
        ParamLine("max_depth", None, {}, 4, None, "None"),
        ParamLine("cols", ["a"], {"type": "array"}, 5, "list[str]", "['a']"),
    ]


@pytest.mark.parametrize(
    "source, literal",
    [
        ("weights = {0: 1.0, 1: 3.5}", "{0: 1.0, 1: 3.5}"),  # int keys: JSON would make them strings
        ("shape = (3, 4)", "(3, 4)"),  # a tuple: JSON would make it a list
        ("lr = -1e-3", "-0.001"),
    ],
)
def test_the_python_literal_is_kept_for_the_step_notebooks(source, literal):
    assert parse_parameters(source).params[0].literal == literal


@pytest.mark.parametrize(
    "source, expected",
    [
        ("a, b = 1, 'x'", [("a", 1, {"type": "integer"}), ("b", "x", {"type": "string"})]),
        ("a, b = [1, 2]", [("a", 1, {"type": "integer"}), ("b", 2, {"type": "integer"})]),
        ("a = b = 3", [("a", 3, {"type": "integer"}), ("b", 3, {"type": "integer"})]),
        # every assignment is listed: the compiler takes the last one (and warns)
        ("rows = 100\nrows = 200", [("rows", 100, {"type": "integer"}), ("rows", 200, {"type": "integer"})]),
        ("", []),
        ("# nothing to set", []),
    ],
)
def test_several_parameters(source, expected):
    assert params(source) == expected


def test_a_papermill_notebooks_parameters_cell():
    source = (
        "# Parameters\n"
        "alpha = 0.6\n"
        "ratio = -0.1\n"
        "input_path = 'data/input.csv'\n"
        "output_path: str = None\n"
        "countries = ['fr', 'de']\n"
        "verbose = False\n"
    )
    assert params(source) == [
        ("alpha", 0.6, {"type": "number"}),
        ("ratio", -0.1, {"type": "number"}),
        ("input_path", "data/input.csv", {"type": "string"}),
        ("output_path", None, {"type": ["string", "null"]}),
        ("countries", ["fr", "de"], {"type": "array"}),
        ("verbose", False, {"type": "boolean"}),
    ]


# -- what a parameters cell may not hold ------------------------------------------

PROBLEMS = [
    # (source, line, message, fix)
    # a default its own annotation rejects
    (
        "x: int = 'a'",
        1,
        "line 1 gives `x` the default `'a'`, which its annotation `int` does not allow",
        "change the default or the annotation so that they agree",
    ),
    (
        "x: bool = 1",
        1,
        "line 1 gives `x` the default `1`, which its annotation `bool` does not allow",
        "change the default or the annotation so that they agree",
    ),
    (
        "x: list[int] = {}",
        1,
        "line 1 gives `x` the default `{}`, which its annotation `list[int]` does not allow",
        "change the default or the annotation so that they agree",
    ),
    # values the manifest (JSON) cannot hold
    (
        "c = 1+2j",
        1,
        "line 1 gives `c` the value `(1+2j)`, which a pipeline manifest (JSON) cannot hold",
        "use a number, string, boolean, None, list or dict (e.g. a string the step converts)",
    ),
    (
        "raw = b'abc'",
        1,
        "line 1 gives `raw` the value `b'abc'`, which a pipeline manifest (JSON) cannot hold",
        "use a number, string, boolean, None, list or dict (e.g. a string the step converts)",
    ),
    (
        "big = 1e999",
        1,
        "line 1 gives `big` the value `inf`, which a pipeline manifest (JSON) cannot hold",
        "use a number, string, boolean, None, list or dict (e.g. a string the step converts)",
    ),
    (
        "x = [1, ...]",
        1,
        "line 1 gives `x` the value `[1, Ellipsis]`, which a pipeline manifest (JSON) cannot hold",
        "use a number, string, boolean, None, list or dict (e.g. a string the step converts)",
    ),
    # code that does not parse
    ("x = 1 +", 1, "syntax error: invalid syntax", "fix the Python syntax"),
    ("x = 1\ny = (", 2, "syntax error: '(' was never closed", "fix the Python syntax"),
    ("x = " + "-" * 100_000 + "1", 1, "syntax error: the code is nested too deeply for Python to compile it",
     "fix the Python syntax"),
]


@pytest.mark.parametrize("source, line, message, fix", PROBLEMS, ids=[row[0][:30] for row in PROBLEMS])
def test_a_line_that_is_not_a_literal_parameter_is_a_problem(source, line, message, fix):
    cell = parse_parameters(source)
    assert cell.problems == [ParamProblem(line, message, fix)]
    assert cell.params == []


# -- what runs in place, as papermill runs it ----------------------------------------

IN_PLACE = [
    # (source, (line, end line, binds, reads) of the one statement that runs in place)
    ("x = os.getcwd()", (1, 1, ("x",), ("os",))),
    ("x = float('nan')", (1, 1, ("x",), ("float",))),
    ("x = 10**6", (1, 1, ("x",), ())),
    ("# the next line\nm = n + 1", (2, 2, ("m",), ("n",))),
    ("print(1)", (1, 1, (), ("print",))),
    ("import os", (1, 1, ("os",), ())),
    ("import os.path as osp", (1, 1, ("osp",), ())),
    ("from pathlib import Path", (1, 1, ("Path",), ())),
    ("x: int", (1, 1, ("x",), ("int",))),
    ("if True:\n    x = 1", (1, 2, ("x",), ())),
    ("n += 1", (1, 1, ("n",), ("n",))),
    ("pass", (1, 1, (), ())),
    ("%matplotlib inline", (1, 1, (), ("get_ipython",))),
    ("a.b = 1", (1, 1, ("a",), ("a",))),  # changes a
    ("a[0] = 1", (1, 1, ("a",), ("a",))),
    ("(a, b), c = (1, 2), 3", (1, 1, ("a", "b", "c"), ())),
    ("a, b = 1, 2, 3", (1, 1, ("a", "b"), ())),
    ("def double(v):\n    return v * 2", (1, 2, ("double",), ("v",))),
]


@pytest.mark.parametrize("source, expected", IN_PLACE, ids=[row[0][:30] for row in IN_PLACE])
def test_a_line_that_is_not_a_literal_parameter_runs_in_place(source, expected):
    cell = parse_parameters(source)
    assert cell.problems == [] and cell.params == []
    (code,) = cell.code
    line, end, binds, reads = expected
    assert (code.line, code.end_line) == (line, end)
    assert set(code.binds) == set(binds) and set(reads) <= set(code.reads)
    assert code.text == "\n".join(source.splitlines()[line - 1:end])


def test_parameters_are_still_read_around_lines_that_run_in_place():
    cell = parse_parameters("import os\na = 1\nb = compute(a)\nc = 'x'\nprint(c)\npass\n")
    assert [(p.name, p.line) for p in cell.params] == [("a", 2), ("c", 4)]
    assert [c.line for c in cell.code] == [1, 3, 5, 6]
    assert cell.problems == []


def test_ipython_lines_do_not_hide_the_parameters():
    cell = parse_parameters("%matplotlib inline\nn = 5\n")
    assert [(p.name, p.default, p.line) for p in cell.params] == [("n", 5, 2)]
    assert [c.line for c in cell.code] == [1]


def test_the_cell_runs_as_written_with_annotations_as_comments():
    source = "from typing import Optional\nn: int = 5\npath: Optional[str] = None\nm = n * 2"
    assert emitted_source(source) == (
        "from typing import Optional\nn = 5  # int\npath = None  # Optional[str]\nm = n * 2")


# -- metrics cells ---------------------------------------------------------------

METRICS = [
    # (source, metric names in order)
    ("accuracy = 0.93", ["accuracy"]),
    ("acc, loss = 0.9, 0.1", ["acc", "loss"]),
    ("acc, *rest = scores", ["acc", "rest"]),
    ("f1: float = 0.5", ["f1"]),
    ("n_errors += 1", ["n_errors"]),
    # Kale's pipeline-metrics: print(x) names x
    ("print(accuracy)", ["accuracy"]),
    ("print(acc, loss)", ["acc", "loss"]),
    ("print('acc', acc, sep=':')", ["acc"]),
    ("print(f'acc={acc:.2f} loss={loss}')", ["acc", "loss"]),
    ("print(acc)\nprint(acc)", ["acc"]),
    # a name on a line of its own (what Jupyter displays when it is last)
    ("accuracy", ["accuracy"]),
    ("accuracy = 0.9\naccuracy", ["accuracy"]),
    ("acc = m.score(X, y)\nprint(f'{acc:.3f}')\nloss", ["acc", "loss"]),
    # not metrics: containers changed in place, computed prints, other calls
    ("results['acc'] = 0.9", []),
    ("scores[i] = f(x)", []),
    ("obj.x = 1", []),
    ("print(m.score(X, y))", []),
    ("print(f'{m.score(X, y)}')", []),
    ("display(acc)", []),
    ("(acc, loss)", []),
    ("for i in r:\n    acc = i", []),
    ("import math\nprint(math.pi)", []),
    ("!ls\nacc = 1", ["acc"]),
    ("x = (", []),
    ("", []),
]


@pytest.mark.parametrize("source, names", METRICS, ids=[row[0].replace("\n", "⏎") for row in METRICS])
def test_metric_names(source, names):
    assert metric_names(source) == names


# -- one type check, for defaults and overrides alike ----------------------------------

FITS = [
    # (value, schema, fits)
    (3, {"type": "integer"}, True),
    (True, {"type": "integer"}, False),
    (3, {"type": "number"}, True),
    ("3", {"type": "number"}, False),
    ([1, 2], {"type": "array"}, True),
    ({1, 2}, {"type": "array"}, True),
    ((1, 2), {"type": "array"}, True),
    (None, {"type": ["string", "null"]}, True),
    ("a", {"type": ["string", "null"]}, True),
    (1, {"type": ["string", "null"]}, False),
    ("anything", {}, True),
    ("anything", {"type": "a-kind-from-a-newer-cellpipe"}, True),
]


@pytest.mark.parametrize(("value", "schema", "expected"), FITS)
def test_one_type_check_for_defaults_and_overrides(value, schema, expected):
    from cellpipe.core.parameters import fits

    assert fits(value, schema) is expected


TYPED = [
    # (annotation and default, what the user typed, value the step gets)
    ("tag: str | None = None", "123", "123"),
    ("tag: Optional[str] = None", "007", "007"),
    ("tag: str = 'x'", "true", "true"),
    ("tag: str | None = 'x'", "None", None),
    ("n: int = 1", "123", 123),
    ("n: int | str = 1", "123", 123),
    ("n: int | str = 1", "abc", "abc"),
    ("x: float = 1.0", "2", 2),
    ("xs: list = []", "[1, 2]", [1, 2]),
]


@pytest.mark.parametrize(("declared", "typed", "value"), TYPED)
def test_a_value_typed_on_the_command_line_takes_the_parameters_type(declared, typed, value):
    from cellpipe.core.overrides import parse_assignments, resolve
    from conftest import compile_cells

    # Given a notebook whose parameter is declared with a type
    name = declared.split(":")[0]
    pipeline = compile_cells(("nb.ipynb", [("from typing import Optional", ("imports",)),
                                           (declared, ("parameters",)), (f"print({name})", ("step:show",))])).pipeline
    # When the user sets it with -p NAME=TEXT
    values = resolve(pipeline, parse_assignments([f"{name}={typed}"]))
    # Then the step gets the value of the parameter's type
    assert values["nb.ipynb"][name] == value and type(values["nb.ipynb"][name]) is type(value)


def test_a_value_that_fits_no_declared_type_is_refused_naming_the_types():
    from cellpipe.core.overrides import parse_assignments, resolve
    from cellpipe.errors import UsageError
    from conftest import compile_cells

    pipeline = compile_cells(("nb.ipynb", [("n: int | None = 1", ("parameters",)),
                                           ("print(n)", ("step:show",))])).pipeline
    with pytest.raises(UsageError, match=r"expects integer or null, got 'abc' \(str\)"):
        resolve(pipeline, parse_assignments(["n=abc"]))
