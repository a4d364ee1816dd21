"""The runner's policy with a fake executor: cache, selection, failure and
interrupt, against a real store in ``tmp_path`` and no kernel.

The fake executor "runs" a step by storing one object per output variable
(its content derived from the step and its inputs' hashes) and finishing at the
next poll, unless the script says otherwise: ``fail``, ``hang`` (until
cancelled), ``stubborn`` (ignores cancel), ``ctrl-c`` (Ctrl-C arrives while it runs).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cellpipe.engine import executors, runner
from cellpipe.engine.executors.base import (
    CANCELLED,
    Executor,
    InputUnavailable,
    RunContext,
    StepEvent,
    StepFailure,
    StepResult,
    StepTask,
)
from cellpipe.engine.runner import Runner, RunOptions
from cellpipe.engine.store import Store
from cellpipe.errors import UsageError
from cellpipe.model import Pipeline
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


class FakeExecutor:
    def __init__(self, script: dict[str, str] | None = None) -> None:
        self.script = dict(script or {})
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.killed: list[str] = []
        self.in_flight: dict[str, StepTask] = {}
        self.most_in_flight = 0
        self.closed: bool | None = None  # keep_scratch, once closed

    def open(self, context: RunContext) -> None:
        self.context = context

    def submit(self, task: StepTask) -> None:
        objects = self.context.store.objects
        for producer, outputs in task.inputs.items():
            corrupt = [art["hash"] for art in outputs["variables"].values() if not objects.verify(art["hash"])]
            if corrupt:  # as the local executor does: the corrupt object goes, the producer reruns
                for digest in corrupt:
                    objects.remove(digest)
                raise InputUnavailable(producer)
        self.submitted.append(task.step.name)
        self.in_flight[task.step.name] = task
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))

    def poll(self, timeout: float) -> list[StepEvent]:
        events = []
        for name, task in list(self.in_flight.items()):
            what = self.script.get(name, "ok")
            if what == "ctrl-c":
                self.script[name] = "hang"
                raise KeyboardInterrupt
            if what in ("hang", "stubborn"):
                continue
            del self.in_flight[name]
            if what == "cancelled":
                events.append(StepEvent(name, "finished", failure=StepFailure(CANCELLED)))
            elif what == "fail":
                events.append(StepEvent(name, "finished", failure=StepFailure("ValueError: bad", "ValueError", "bad")))
            else:
                events.append(StepEvent(name, "finished", result=self._outputs(task)))
        if not events:
            time.sleep(min(timeout, 0.01))
        return events

    def _outputs(self, task: StepTask) -> StepResult:
        objects = self.context.store.objects
        seen = sorted(art["hash"] for out in task.inputs.values() for art in out["variables"].values())
        variables = {}
        for var in task.step.var_outputs:
            data = f"{task.step.name}:{var}:{seen}".encode()
            variables[var] = {"file": f"{var}.pkl", "format": "pickle", "bytes": len(data),
                              "hash": objects.put_bytes(data)}
        return StepResult({"variables": variables, "files": {}}, {"n": len(self.submitted)})

    def cancel(self, step: str) -> None:
        self.cancelled.append(step)
        if self.script.get(step) == "hang":
            self.script[step] = "cancelled"

    def kill(self, step: str) -> None:
        self.killed.append(step)
        self.in_flight.pop(step, None)

    def close(self, keep_scratch: bool = True) -> None:
        self.closed = keep_scratch


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    result = compile_cells(("flow.ipynb", CELLS))
    assert result.pipeline is not None and not result.errors
    return result.pipeline


@pytest.fixture(scope="module")
def environment_json(tmp_path_factory) -> bytes:
    """The installed packages, scanned once (a store caches the scan in environment.json)."""
    store = Store(tmp_path_factory.mktemp("scan") / ".cellpipe")
    try:
        store.lock("scan")
        Runner(compile_cells(("x.ipynb", ["x = 1"])).pipeline, store.folder.parent, store, RunOptions(),
               executor=FakeExecutor()).keys.installed()
    finally:
        store.close()
    return (store.folder / "environment.json").read_bytes()


@pytest.fixture
def store(tmp_path: Path, environment_json: bytes):
    (tmp_path / ".cellpipe").mkdir()
    (tmp_path / ".cellpipe" / "environment.json").write_bytes(environment_json)
    store = Store(tmp_path / ".cellpipe")
    yield store
    store.close()


def run(pipeline: Pipeline, root: Path, store: Store, executor: FakeExecutor, **options: Any) -> runner.RunResult:
    return Runner(pipeline, root, store, RunOptions(jobs=options.pop("jobs", 2), **options),
                  executor=executor).run()


def states(result: runner.RunResult) -> dict[str, str]:
    return {name: st.state for name, st in result.steps.items()}


def test_the_fake_is_an_executor():
    assert isinstance(FakeExecutor(), Executor)


def test_a_fresh_run_submits_every_step_and_a_second_run_submits_only_nocache(pipeline, tmp_path, store):
    first = FakeExecutor()
    result = run(pipeline, tmp_path, store, first)
    assert set(states(result).values()) == {"done"} and result.state == "succeeded" and result.exit_code == 0
    assert sorted(first.submitted) == sorted(states(result))
    assert first.closed is False  # scratch space goes after a success
    assert store.db.run(result.run_id, prefix=False)["state"] == "succeeded"

    second = FakeExecutor()
    again = run(pipeline, tmp_path, store, second)
    assert second.submitted == ["alone"]
    assert {n: s for n, s in states(again).items() if n != "alone"} == dict.fromkeys(
        ["load", "clean", "left", "right", "report"], "cached")
    assert again.steps["report"].cached_from == result.run_id


def test_no_more_steps_run_at_once_than_jobs(pipeline, tmp_path, store):
    fake = FakeExecutor()
    run(pipeline, tmp_path, store, fake, jobs=1)
    assert fake.most_in_flight == 1
    fake = FakeExecutor()
    run(pipeline, tmp_path, store, fake, jobs=2, force=True)
    assert fake.most_in_flight == 2  # load and alone at once


def test_a_failed_step_skips_its_downstream_and_independent_branches_finish(pipeline, tmp_path, store):
    result = run(pipeline, tmp_path, store, FakeExecutor({"left": "fail"}))
    assert states(result) == {"load": "done", "clean": "done", "left": "failed", "right": "done",
                              "report": "skipped", "alone": "done"}
    assert result.steps["report"].reason == "upstream step left failed"
    assert result.steps["left"].error["message"] == "ValueError: bad"
    assert result.state == "failed" and result.exit_code == 1
    assert store.db.run(result.run_id, prefix=False)["state"] == "failed"
    # running again resumes: finished steps are cached
    fake = FakeExecutor()
    again = run(pipeline, tmp_path, store, fake)
    assert sorted(fake.submitted) == ["alone", "left", "report"]
    assert again.state == "succeeded"


def test_only_and_force_run_exactly_the_selected_steps(pipeline, tmp_path, store):
    run(pipeline, tmp_path, store, FakeExecutor())
    fake = FakeExecutor()
    result = run(pipeline, tmp_path, store, fake, only=["left"], force=True)
    assert fake.submitted == ["left"]
    assert states(result)["left"] == "done" and states(result)["right"] == "cached"
    fake = FakeExecutor()
    run(pipeline, tmp_path, store, fake, from_steps=["right"], force=True)
    assert sorted(fake.submitted) == ["report", "right"]


def test_a_step_left_out_by_only_that_never_ran_fails_the_run(pipeline, tmp_path, store):
    fake = FakeExecutor()
    result = run(pipeline, tmp_path, store, fake, only=["clean"])
    assert states(result)["load"] == "failed" and states(result)["clean"] == "skipped"
    assert "cellpipe run --only load" in result.steps["load"].error["message"]
    assert fake.submitted == [] and result.exit_code == 1


def test_a_corrupt_input_reruns_its_producer_before_its_consumer(pipeline, tmp_path, store):
    first = run(pipeline, tmp_path, store, FakeExecutor())
    digest = first.steps["clean"].key and store.db.cache_get(first.steps["clean"].key)["outputs"]["variables"]["b"]["hash"]
    path = store.objects.path(digest)
    path.chmod(0o644)
    path.write_bytes(b"X" * path.stat().st_size)  # same size, other bytes
    fake = FakeExecutor()
    result = run(pipeline, tmp_path, store, fake, only=["left"], force=True)
    assert fake.submitted == ["clean", "left"]
    assert states(result)["clean"] == "done" and result.state == "succeeded", [(s.name, s.state, s.reason, s.error) for s in result.steps.values()]
    assert "running it again" in result.steps["clean"].warnings[0]


def test_ctrl_c_cancels_running_steps_skips_the_rest_and_records_the_run_interrupted(
        pipeline, tmp_path, store, monkeypatch):
    monkeypatch.setattr(runner, "CANCEL_GRACE", 0.2)
    fake = FakeExecutor({"left": "stubborn", "right": "ctrl-c"})
    started = time.monotonic()
    result = run(pipeline, tmp_path, store, fake, jobs=3)
    assert time.monotonic() - started < 5
    assert result.state == "interrupted"
    # right stopped when cancelled; left ignored the cancel and was killed
    assert sorted(fake.cancelled) == ["left", "right"] and fake.killed == ["left"]
    assert states(result)["left"] == "interrupted" and states(result)["right"] == "interrupted"
    assert states(result)["report"] == "skipped" and result.steps["report"].reason == "run interrupted"
    assert store.db.run(result.run_id, prefix=False)["state"] == "interrupted"
    assert fake.closed is True  # the scratch space stays for a look
    rows = {r["step"]: r["state"] for r in store.db.step_runs(result.run_id)}
    assert rows["left"] == "interrupted" and rows["right"] == "interrupted"


def test_an_error_inside_the_executor_fails_the_run_record_and_propagates(pipeline, tmp_path, store):
    class Broken(FakeExecutor):
        def poll(self, timeout: float) -> list[StepEvent]:
            raise RuntimeError("the executor broke")

    fake = Broken()
    runner_ = Runner(pipeline, tmp_path, store, RunOptions(jobs=2), executor=fake)
    with pytest.raises(RuntimeError, match="the executor broke"):
        runner_.run()
    assert store.db.runs(limit=1)[0]["state"] == "failed"
    assert fake.closed is True
    store.lock("next")  # the store is free again


def test_executors_are_chosen_by_name_from_a_registry(pipeline, tmp_path, store, monkeypatch):
    with pytest.raises(UsageError, match="unknown executor 'nope'; the executors are: .*local"):
        executors.create("nope")
    made: list[FakeExecutor] = []
    monkeypatch.setitem(executors._registered, "fake", lambda **options: made.append(FakeExecutor(**options)) or made[-1])
    result = Runner(pipeline, tmp_path, store, RunOptions(executor="fake", executor_options={"script": {"left": "fail"}})).run()
    assert states(result)["left"] == "failed" and made[0].submitted
