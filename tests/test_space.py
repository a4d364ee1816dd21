"""Sweep spaces, objectives, constraints and the Pareto front: pure, no kernels."""

from __future__ import annotations

import pytest

from cellpipe.core.parameters import sweep_annotations
from cellpipe.core.space import (
    Objective,
    grid,
    pareto_front,
    parse_constraint,
    parse_objective,
    parse_space,
    rank,
    sample,
)
from cellpipe.errors import UsageError

INT = {"type": "integer"}
FLOAT = {"type": "number"}
OPT_INT = {"type": ["integer", "null"]}


@pytest.mark.parametrize(
    ("text", "schema", "kind", "expected"),
    [
        ("50,100,200", INT, "choice", (50, 100, 200)),
        ("3..8", INT, "int", (3, 8, False)),
        ("50..500 log", INT, "int", (50, 500, True)),
        ("1..10", FLOAT, "float", (1, 10, False)),  # a float parameter: 1..10 is a float range
        ("0.01..10 log", FLOAT, "float", (0.01, 10, True)),
        ("3,None", OPT_INT, "choice", (3, None)),
        ("7", INT, "choice", (7,)),
        ("-2..2", INT, "int", (-2, 2, False)),
    ],
)
def test_spaces_are_read_against_the_parameters_type(text, schema, kind, expected) -> None:
    dim = parse_space("p", text, schema)
    assert dim.kind == kind
    got = dim.choices if kind == "choice" else (dim.low, dim.high, dim.log)
    assert got == expected


@pytest.mark.parametrize(
    ("text", "schema", "message"),
    [
        ("8..3", INT, r"'depth'.*empty.*3\.\.8"),
        ("0..10 log", INT, r"'depth'.*log range needs a low bound above 0"),
        ("a..b", INT, r"'depth'.*'a'.*not a number"),
        ("1.5..4", INT, r"'depth'.*whole-number bounds"),
        ("1,x", INT, r"'depth' expects integer.*'x'"),
        ("", INT, r"'depth' has an empty space"),
        ("1..3", {"type": "string"}, r"'depth' expects string.*list its values"),
    ],
)
def test_a_bad_space_names_the_parameter_and_the_fix(text, schema, message) -> None:
    with pytest.raises(UsageError, match=message):
        parse_space("depth", text, schema)


def test_a_grid_is_every_combination_and_a_float_range_has_none() -> None:
    points = grid([parse_space("a", "1,2,3", INT), parse_space("b", "3..4", INT)])
    assert points == [{"a": a, "b": b} for a in (1, 2, 3) for b in (3, 4)]
    with pytest.raises(UsageError, match=r"'c'.*float range.*--random"):
        grid([parse_space("c", "0.1..1", FLOAT)])


def test_a_random_sample_is_reproducible_and_stays_in_its_range() -> None:
    dims = [parse_space("n", "10..1000 log", INT), parse_space("c", "0.5..2", FLOAT)]
    first, again = sample(dims, 20, seed=3), sample(dims, 20, seed=3)
    assert first == again
    assert all(10 <= p["n"] <= 1000 and isinstance(p["n"], int) and 0.5 <= p["c"] <= 2 for p in first)
    assert len({repr(p) for p in first}) == 20


def test_objectives_and_constraints_are_parsed_or_explained() -> None:
    assert parse_objective("roc_auc:max") == Objective("roc_auc", "maximize")
    assert parse_objective("evaluate.loss:min") == Objective("evaluate.loss", "minimize")
    with pytest.raises(UsageError, match="METRIC:max or METRIC:min"):
        parse_objective("roc_auc")
    con = parse_constraint("latency_ms<100")
    assert (con.metric, con.op, con.value) == ("latency_ms", "<", 100.0)
    assert con.holds(99) and not con.holds(100)
    assert con.violation(99) <= 0 < con.violation(120)
    with pytest.raises(UsageError, match="METRIC<VALUE"):
        parse_constraint("latency_ms=100")


def test_the_pareto_front_is_the_non_dominated_points() -> None:
    objectives = [Objective("a", "maximize"), Objective("b", "minimize")]
    points = [[1, 1], [2, 2], [0, 3], [2, 1], [1, 0]]
    # [2,1] dominates [1,1] and [2,2]; [1,0] is best on b; [0,3] is dominated by everything
    assert pareto_front(points, objectives) == [3, 4]


def test_rank_puts_infeasible_and_failed_trials_last() -> None:
    objectives = [Objective("a", "maximize")]
    order = rank([[0.5], [0.9], None, [0.7]], [True, False, False, True], objectives)
    assert order == [3, 0, 1, 2]


def test_sweep_annotations_come_from_the_parameters_cell_comments() -> None:
    source = (
        "n_estimators: int = 100  # sweep: 50..500 log\n"
        "max_depth: int | None = None  #sweep:3,5,None\n"
        "C = 1.0  # the regularisation\n"
        "names = [\n    'a',\n]\n"
    )
    assert sweep_annotations(source) == {"n_estimators": "50..500 log", "max_depth": "3,5,None"}
    assert sweep_annotations("x = (1\n") == {}
