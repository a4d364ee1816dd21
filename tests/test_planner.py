"""The planner's decisions over the store's answers: pure, no kernel, no disk.

The ledger below stands in for the store: it remembers which key parts each
step last succeeded with, and which entries lost their objects.
"""

from __future__ import annotations

from typing import Any

import pytest

from cellpipe.core import cachekey
from cellpipe.engine.planner import (
    CACHED,
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    SKIPPED,
    Planner,
)
from cellpipe.errors import UsageError
from cellpipe.model import Pipeline, Step
from conftest import compile_cells

# load -> clean -> (left, right) -> report ; alone (nocache) on its own
CELLS = [
    ("a = 1", ("step:load",)),
    ("b = a + 1", ("step:clean",)),
    ("c = b * 2", ("step:left",)),
    ("d = b * 3", ("step:right",)),
    ("e = c + d", ("step:report",)),
    ("f = 7", ("step:alone", "nocache")),
]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    result = compile_cells(("flow.ipynb", CELLS))
    assert result.pipeline is not None and not result.errors
    return result.pipeline


class Ledger:
    """The store's answers, from dicts: ``code`` says each step's current code."""

    def __init__(self) -> None:
        self.code: dict[str, str] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.gone: set[str] = set()  # keys whose objects are missing
        self.asked_latest: list[str] = []

    def parts(self, step: Step) -> dict[str, Any]:
        return {"code": [f"{step.name}-{self.code.get(step.name, 'v1')}"], "where": {"code": [3]}}

    def entry(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def latest(self, step: Step) -> dict[str, Any] | None:
        self.asked_latest.append(step.name)
        return self.last.get(step.name)

    def present(self, entry: dict[str, Any]) -> bool:
        return entry["key"] not in self.gone

    def succeeded(self, pipeline: Pipeline, *names: str) -> None:
        """Record a success of each step with its current parts."""
        for name in names:
            parts = self.parts(pipeline.step(name))
            key = cachekey.key_of(parts)
            entry = {"key": key, "parts": parts, "outputs": {"variables": {}}, "metrics": {}, "run_id": "r1"}
            self.entries[key] = self.last[name] = entry


ALL = ("load", "clean", "left", "right", "report", "alone")


def states(**given: str) -> dict[str, str]:
    return {name: given.get(name, PENDING) for name in ALL}


def test_on_a_fresh_store_the_first_step_runs_because_it_never_ran(pipeline):
    planner = Planner(pipeline, Ledger())
    decision = planner.decide("load", states())
    assert (decision.action, decision.reason) == ("run", "never run")
    assert decision.key == cachekey.key_of(decision.parts)


def test_a_step_is_ready_only_when_every_upstream_step_is_settled(pipeline):
    planner = Planner(pipeline, Ledger())
    ready = [n for n in ALL if planner.ready(n, states())]
    assert ready == ["load", "alone"]
    assert planner.ready("report", states(load=DONE, clean=CACHED, left=DONE, right=RUNNING)) is False
    assert planner.ready("report", states(load=DONE, clean=CACHED, left=DONE, right=FAILED)) is True


def test_a_step_recorded_with_the_same_parts_is_reused_without_asking_for_its_history(pipeline):
    ledger = Ledger()
    ledger.succeeded(pipeline, *ALL)
    decision = Planner(pipeline, ledger).decide("clean", states(load=CACHED))
    assert (decision.action, decision.reason) == ("reuse", "up to date")
    assert decision.entry is ledger.last["clean"] and not decision.stale
    assert ledger.asked_latest == []  # a cache hit costs one lookup


def test_changed_code_runs_the_step_and_says_which_cell(pipeline):
    ledger = Ledger()
    ledger.succeeded(pipeline, *ALL)
    ledger.code["left"] = "v2"
    decision = Planner(pipeline, ledger).decide("left", states(load=CACHED, clean=CACHED))
    assert (decision.action, decision.reason) == ("run", "code changed in cell 3")


@pytest.mark.parametrize("upstream_state", [FAILED, SKIPPED, INTERRUPTED])
def test_a_step_whose_upstream_did_not_finish_is_skipped_and_independent_steps_are_not(pipeline, upstream_state):
    planner = Planner(pipeline, Ledger())
    given = states(load=DONE, clean=DONE, left=upstream_state, right=DONE)
    decision = planner.decide("report", given)
    assert (decision.action, decision.reason) == ("skip", f"upstream step left {upstream_state}")
    assert decision.key is None  # nothing hashed for a step that cannot run
    assert planner.decide("alone", given).action == "run"


def test_force_runs_the_selected_steps_even_when_cached(pipeline):
    ledger = Ledger()
    ledger.succeeded(pipeline, *ALL)
    planner = Planner(pipeline, ledger, only=["clean"], force=True)
    assert planner.decide("load", states()).action == "reuse"  # not selected: cached as usual
    decision = planner.decide("clean", states(load=CACHED))
    assert (decision.action, decision.reason) == ("run", "forced")


def test_a_nocache_step_always_runs_when_selected(pipeline):
    ledger = Ledger()
    ledger.succeeded(pipeline, *ALL)
    assert Planner(pipeline, ledger).decide("alone", states()).reason == "nocache"
    assert Planner(pipeline, ledger, only=["load"]).decide("alone", states()).action == "reuse"


def test_from_selects_a_step_and_everything_downstream(pipeline):
    planner = Planner(pipeline, Ledger(), from_steps=["left"])
    assert planner.selected == {"left", "report"}
    with pytest.raises(UsageError, match="unknown step 'nope'; the steps are: load, clean"):
        Planner(pipeline, Ledger(), only=["nope"])


def test_a_step_left_out_by_only_that_never_ran_fails_with_the_fix(pipeline):
    decision = Planner(pipeline, Ledger(), only=["clean"]).decide("load", states())
    assert (decision.action, decision.reason) == ("fail", "not selected and never run")
    assert "cellpipe run --only load" in decision.error


def test_a_step_left_out_by_only_that_is_stale_lends_its_last_outputs_with_a_warning(pipeline):
    ledger = Ledger()
    ledger.succeeded(pipeline, *ALL)
    ledger.code["load"] = "v2"
    decision = Planner(pipeline, ledger, only=["clean"]).decide("load", states())
    assert decision.action == "reuse" and decision.stale
    assert decision.reason == "not selected, stale: code changed in cell 3"
    assert "using its last outputs although it is stale (code changed in cell 3)" in decision.warning


def test_an_entry_whose_objects_are_gone_is_forgotten_and_the_step_runs(pipeline):
    ledger = Ledger()
    ledger.succeeded(pipeline, "load")
    ledger.gone.add(ledger.last["load"]["key"])
    decision = Planner(pipeline, ledger).decide("load", states())
    assert (decision.action, decision.reason) == ("run", "stored outputs missing")
    assert decision.forget == (ledger.last["load"]["key"],)


def test_a_step_whose_stored_output_is_corrupt_is_rebuilt_even_when_not_selected(pipeline):
    ledger = Ledger()
    ledger.succeeded(pipeline, *ALL)
    planner = Planner(pipeline, ledger, only=["left"])
    decision = planner.decide("clean", states(load=CACHED), rebuild=True)
    assert (decision.action, decision.reason) == ("run", "stored output corrupt")
    decision = Planner(pipeline, ledger).decide("clean", states(load=CACHED), unusable="stored output file corrupt")
    assert (decision.action, decision.reason) == ("run", "stored output file corrupt")


def test_the_run_is_finished_when_nothing_runs_and_nothing_can_start(pipeline):
    planner = Planner(pipeline, Ledger())
    assert not planner.finished(states())
    assert not planner.finished({**states(load=DONE, clean=DONE, left=DONE, right=DONE, report=DONE), "alone": RUNNING})
    assert planner.finished({n: DONE for n in ALL})
    assert planner.finished({**{n: SKIPPED for n in ALL}, "load": FAILED})


def test_a_step_left_out_by_only_that_no_selected_step_needs_is_skipped_if_it_has_no_outputs(pipeline):
    # alone is nocache (never cached) and feeds nothing
    decision = Planner(pipeline, Ledger(), only=["clean"]).decide("alone", states())
    assert (decision.action, decision.reason) == ("skip", "not selected")


def test_a_nocache_step_a_selected_step_needs_runs_even_when_not_selected():
    result = compile_cells(("flow.ipynb", [("a = 1", ("step:fetch", "nocache")), ("b = a", ("step:use",))]))
    decision = Planner(result.pipeline, Ledger(), only=["use"]).decide("fetch", {"fetch": PENDING, "use": PENDING})
    assert (decision.action, decision.reason) == ("run", "nocache")


# -- a change the analysis did not see: who must get the changed value, what is decided again -----

from cellpipe.core.compiler import compile_notebooks  # noqa: E402
from cellpipe.engine.planner import readers_after, replan  # noqa: E402

# 'sneaky' changes df through a helper module; 'early' reads df before it, 'report' after it
UNSEEN = [
    ("import helpers", ("imports",)),
    ("df = {'x': 1}", ("step:load",)),
    ("print(df)", ("step:early",)),
    ("helpers.bump(df)", ("step:sneaky",)),
    ("print(df)", ("step:report",)),
    ("summary = str(df)", ("step:after_report",)),
    ("print(summary)", ("step:show",)),
]


def test_only_steps_after_the_change_in_the_notebook_read_the_changed_value() -> None:
    p = compile_cells(("nb.ipynb", UNSEEN)).pipeline
    assert readers_after(p, "sneaky", "df") == ["report", "after_report"]
    assert readers_after(p, "report", "df") == ["after_report"]
    assert readers_after(p, "show", "summary") == []  # not an input it loaded


def learned_pipeline(cells: list, learned: dict) -> Pipeline:
    import json

    import nbformat

    from cellpipe.core.compiler import NotebookSource
    from conftest import build_notebook

    source = NotebookSource("nb.ipynb", json.loads(nbformat.writes(build_notebook(cells))))
    result = compile_notebooks([source], learned={"nb.ipynb": learned})
    assert result.pipeline is not None
    return result.pipeline


def test_a_learned_change_routes_the_value_through_the_step_that_made_it() -> None:
    p = learned_pipeline(UNSEEN, {"sneaky": {"df": "R1"}})
    assert {v.name: v.producer for v in p.step("report").var_inputs} == {"df": "sneaky"}
    assert {v.name: v.producer for v in p.step("early").var_inputs} == {"df": "load"}
    assert p.step("sneaky").learned == (("df", "R1"),)


def test_replan_decides_again_the_readers_and_what_depends_on_them_not_the_rest() -> None:
    old = compile_cells(("nb.ipynb", UNSEEN)).pipeline
    new = learned_pipeline(UNSEEN, {"sneaky": {"df": "R1"}})
    states = {"load": DONE, "early": DONE, "sneaky": DONE, "report": DONE, "after_report": RUNNING,
              "show": PENDING}
    again, running = replan(old, new, states)
    assert again == {"report"}
    assert running == {"after_report"}
