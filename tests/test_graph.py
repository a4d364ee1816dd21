"""The step graph: pure functions over step names and their dependencies; no files."""

from __future__ import annotations

import pytest

from cellpipe.core.graph import (
    downstream,
    find_cycle,
    levels,
    render_dot,
    render_mermaid,
    render_text,
    topological_order,
    upstream,
)
from conftest import compile_cells

# load -> clean -> features -> {fit_a, fit_b} -> report
ORDER = ["load", "clean", "features", "fit_a", "fit_b", "report"]
DEPS = {
    "load": [],
    "clean": ["load"],
    "features": ["clean"],
    "fit_a": ["features"],
    "fit_b": ["features"],
    "report": ["fit_a", "fit_b"],
}


# -- cycles --------------------------------------------------------------------


def test_a_dag_has_no_cycle():
    assert find_cycle(ORDER, DEPS) is None


def test_no_steps_no_cycle():
    assert find_cycle([], {}) is None


def test_cycle_is_reported_in_run_order_closing_on_its_first_step():
    deps = {"a": ["c"], "b": ["a"], "c": ["b"]}
    assert find_cycle(["a", "b", "c"], deps) == ["a", "b", "c", "a"]


def test_two_step_cycle():
    cycle = find_cycle(["a", "b"], {"a": ["b"], "b": ["a"]})
    assert cycle is not None
    assert cycle[0] == cycle[-1] and set(cycle) == {"a", "b"} and len(cycle) == 3


def test_cycle_behind_an_acyclic_part_names_only_the_steps_in_it():
    deps = {**DEPS, "clean": ["load", "report"]}  # report -> clean closes a loop
    cycle = find_cycle(ORDER, deps)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert "load" not in cycle
    assert set(cycle) <= {"clean", "features", "fit_a", "fit_b", "report"}
    # each step in the cycle depends on the one before it
    for before, after in zip(cycle, cycle[1:], strict=False):
        assert before in deps[after]


def test_self_dependency_is_a_cycle():
    assert find_cycle(["a"], {"a": ["a"]}) == ["a", "a"]


def test_dependencies_on_unknown_steps_are_ignored():
    assert find_cycle(["a"], {"a": ["ghost"]}) is None
    assert topological_order(["a"], {"a": ["ghost"]}) == ["a"]


# -- order ---------------------------------------------------------------------


def test_topological_order_of_a_chain_in_notebook_order():
    assert topological_order(ORDER, DEPS) == ORDER


def test_topological_order_puts_dependencies_first_whatever_the_notebook_order():
    order = ["report", "fit_b", "fit_a", "features", "clean", "load"]
    result = topological_order(order, DEPS)
    for step, deps in DEPS.items():
        for dep in deps:
            assert result.index(dep) < result.index(step)


def test_ties_keep_notebook_order():
    order = ["c", "a", "b"]
    assert topological_order(order, {}) == ["c", "a", "b"]
    # z and y both wait for x; they keep their notebook order
    assert topological_order(["z", "x", "y"], {"z": ["x"], "y": ["x"]}) == ["x", "z", "y"]


def test_a_ready_step_goes_before_a_later_notebook_step():
    # b is ready as soon as a ran; c, independent, comes later in the notebook
    assert topological_order(["a", "c", "b"], {"b": ["a"]}) == ["a", "c", "b"]
    assert topological_order(["b", "a", "c"], {"b": ["a"]}) == ["a", "b", "c"]


def test_topological_order_refuses_a_cycle():
    with pytest.raises(ValueError, match="cycle"):
        topological_order(["a", "b"], {"a": ["b"], "b": ["a"]})


def test_duplicate_dependencies_count_once():
    assert topological_order(["a", "b"], {"b": ["a", "a"]}) == ["a", "b"]


# -- levels --------------------------------------------------------------------


def test_levels_group_steps_that_can_run_in_parallel():
    assert levels(ORDER, DEPS) == {"load": 0, "clean": 1, "features": 2, "fit_a": 3, "fit_b": 3, "report": 4}


def test_level_is_the_longest_path_from_a_root():
    deps = {"a": [], "b": ["a"], "c": ["a", "b"]}
    assert levels(["a", "b", "c"], deps) == {"a": 0, "b": 1, "c": 2}


def test_independent_steps_are_all_level_zero():
    assert levels(["a", "b", "c"], {}) == {"a": 0, "b": 0, "c": 0}


# -- selection -----------------------------------------------------------------


def test_downstream_is_the_step_and_everything_that_depends_on_it():
    assert downstream(["features"], DEPS) == {"features", "fit_a", "fit_b", "report"}
    assert downstream(["fit_a"], DEPS) == {"fit_a", "report"}
    assert downstream(["report"], DEPS) == {"report"}


def test_downstream_of_several_steps_is_their_union():
    assert downstream(["fit_a", "clean"], DEPS) == {"clean", "features", "fit_a", "fit_b", "report"}


def test_upstream_is_the_step_and_everything_it_needs():
    assert upstream(["fit_b"], DEPS) == {"load", "clean", "features", "fit_b"}
    assert upstream(["load"], DEPS) == {"load"}
    assert upstream(["report"], DEPS) == set(ORDER)


def test_selection_of_nothing_is_empty():
    assert downstream([], DEPS) == set()
    assert upstream([], DEPS) == set()


# -- rendering -----------------------------------------------------------------


def _pipeline(*cells):
    result = compile_cells(("a.ipynb", list(cells)))
    assert not result.errors and result.pipeline is not None
    return result.pipeline


def test_text_shows_levels_cells_and_what_each_edge_carries():
    pipeline = _pipeline(
        ("x = 1", ["step:load", "out:data.csv"]),
        ("y = x", ["step:fit"]),
        ("z = 2", ["step:other", "in:data.csv"]),
        ("print(y)", ["step:report", "after:other"]),
    )
    assert render_text(pipeline).splitlines() == [
        "pipeline a: 4 steps",
        "level 0:",
        "  load    (a.ipynb cell 1)",
        "level 1:",
        "  fit     (a.ipynb cell 2) <- load [x]",
        "  other   (a.ipynb cell 3) <- load [data.csv]",
        "level 2:",
        "  report  (a.ipynb cell 4) <- fit [y]; other [after]",
    ]


def test_mermaid_gives_steps_whose_names_differ_only_by_dash_and_underscore_their_own_nodes():
    pipeline = _pipeline(("x = 1", ["step:a-b"]), ("y = x", ["step:a_b"]))
    lines = render_mermaid(pipeline).splitlines()
    nodes = [line.split("[")[0].strip() for line in lines if '["' in line]
    assert len(set(nodes)) == 2
    (edge,) = [line for line in lines if "-->" in line]
    source, target = edge.split("-->")[0].strip(), edge.split()[-1]
    assert source != target


def test_mermaid_and_dot_quote_labels():
    pipeline = _pipeline(("x = 1", ["step:a", 'out:odd"name.csv']), ("y = 2", ["step:b", 'in:odd"name.csv']))
    mermaid = render_mermaid(pipeline)
    assert '|"odd#quot;name.csv"|' in mermaid
    dot = render_dot(pipeline)
    assert '"a" -> "b" [label="odd\\"name.csv"];' in dot
