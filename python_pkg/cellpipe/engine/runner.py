"""The run loop: plan -> submit -> collect -> record. The failure and interrupt
policy live here.

The :class:`~cellpipe.engine.planner.Planner` decides each step as its upstream
steps settle (cached, skipped, to run); an
:class:`~cellpipe.engine.executors.base.Executor` runs the steps to run. A
failing step marks its downstream steps ``skipped``; independent branches
finish. On an interrupt the running steps are cancelled (killed when they ignore
it) and the rest skipped. All store writes happen on the calling thread. A
killed run leaves only whole objects and whole records behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cellpipe.core import cachekey
from cellpipe.core.graph import select
from cellpipe.engine import cached, environment, executors, stopping
from cellpipe.engine import timings as timings_mod
from cellpipe.engine.checkresults import checks_message, failed_checks
from cellpipe.engine.executors.base import (
    CANCELLED,
    Executor,
    InputUnavailable,
    RunContext,
    StepEvent,
    StepFailure,
    StepTask,
)
from cellpipe.engine.executors.procs import clean_up_after_crashes, mark_run
from cellpipe.engine.failures import append_to_log, attempt_paths, failure_site, timeout_message
from cellpipe.engine.keys import KeyParts
from cellpipe.engine.planner import (
    CACHED,
    CHECK_FAILED,
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    RUNNING,
    SKIPPED,
    TERMINAL,
    Decision,
    Entry,
    Planner,
    readers_after,
    replan,
)
from cellpipe.engine.runstate import RunOptions, RunResult, StepStatus, new_run_id
from cellpipe.engine.sharing import SharedLookup
from cellpipe.engine.store import Store
from cellpipe.engine.store import artifacts as artifacts_mod
from cellpipe.engine.store.backend import redact_argv
from cellpipe.engine.store.remote import RemoteCache
from cellpipe.errors import UsageError
from cellpipe.model import Pipeline, Step

__all__ = ["Runner", "RunOptions", "RunResult", "StepStatus", "new_run_id", "select",
           "PENDING", "RUNNING", "CACHED", "DONE", "FAILED", "CHECK_FAILED", "SKIPPED", "INTERRUPTED", "TERMINAL"]

#: how long cancelled steps get to stop before they are killed
CANCEL_GRACE = 5.0
#: the signals that stop a run like Ctrl-C: a CI timeout and the panel's Cancel send SIGTERM
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _States(Mapping[str, str]):
    """The steps' states, read live from their statuses (what the planner reads)."""

    def __init__(self, status: dict[str, StepStatus]) -> None:
        self._status = status

    def __getitem__(self, name: str) -> str:
        return self._status[name].state

    def __iter__(self) -> Iterator[str]:
        return iter(self._status)

    def __len__(self) -> int:
        return len(self._status)


class _StoreLedger:
    """The planner's questions, answered from the store and the work tree."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.store = runner.store

    def parts(self, step: Step) -> dict[str, Any]:
        runner = self.runner
        parts = runner.keys.parts(step, runner.outputs, runner.options.params.get(step.notebook))
        parts = runner.keys.with_files_read(step, parts)
        if runner.shared is not None:  # files read at run time by the runs that filled the shared cache
            parts = runner.shared.with_files_read(runner.keys, parts)
        return parts

    def entry(self, key: str) -> Entry | None:
        entry = self.store.db.cache_get(key)
        if entry is None and self.runner.shared is not None:
            entry = self.runner.shared.find(key)
        return entry

    def latest(self, step: Step) -> Entry | None:
        return self.store.db.cache_latest(step.name, step.notebook)

    def present(self, entry: Entry) -> bool:
        return artifacts_mod.present(self.store, entry["outputs"])


class Runner:
    """Runs one pipeline against one store, through one executor."""

    def __init__(self, pipeline: Pipeline, root: Path, store: Store, options: RunOptions,
                 on_change: Callable[[StepStatus], None] | None = None,
                 executor: Executor | None = None,
                 recompile: Callable[[], Pipeline | None] | None = None) -> None:
        self.pipeline = pipeline
        #: compiles the notebooks again (with what the store has learned); without
        #: it, a run that learns a change fails and asks to run again
        self.recompile = recompile
        self.root = root
        self.store = store
        self.options = options
        self.on_change = on_change or (lambda s: None)
        self.keys = KeyParts(pipeline, root, store)
        self.planner = Planner(pipeline, _StoreLedger(self), options.only, options.from_steps, options.force)
        self.selected = self.planner.selected
        self.status = {s.name: StepStatus(s.name, s.notebook, selected=s.name in self.selected)
                       for s in pipeline.steps}
        self.states = _States(self.status)
        self.steps = {s.name: s for s in pipeline.steps}
        self.outputs: dict[str, dict[str, Any]] = {}  # settled steps' outputs, as recorded in the store
        self.force_rerun: set[str] = set()  # steps whose stored outputs turned out corrupt
        self.executor = executor or executors.create(options.executor, **options.executor_options)
        #: the shared cache looked up after the store misses (``--cache-from``)
        self.shared = (SharedLookup(RemoteCache.open(options.cache_from), store, root)
                       if options.cache_from else None)
        self.running: set[str] = set()  # submitted to the executor, not finished
        self.to_run: set[str] = set()  # decided to execute, waiting for a free slot
        self.run_again: set[str] = set()  # running on a stale value: to run again once finished
        self.unresolved = False  # a learned change this run could not act on
        self.run_id = ""
        self.run_folder = Path()
        self._signalled = False  # a Ctrl-C or SIGTERM came
        self._hurry = False  # a further one came while cancelling: stop waiting
        self.attempt: dict[str, int] = {}  # step -> its attempt running now (retry:N runs it again)
        self.deadlines: dict[str, float] = {}  # running step -> when its time limit is up (monotonic)
        self.timed_out: dict[str, float] = {}  # step cancelled for its time limit -> when it is killed

    # -- the run ---------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run the pipeline. Ctrl-C or SIGTERM (in the main thread) stops it: the run
        is recorded ``interrupted`` at once, then its steps are cancelled."""
        run_id = self.options.run_id or new_run_id()
        if self.store.db.run(run_id, prefix=False) is not None:
            raise UsageError(f"run id {run_id} already exists in the store")
        store = self.store
        self._signalled = self._hurry = False
        with stopping.handled():
            store.lock(run_id, wait=self.options.wait)
            self.run_id, self.run_folder = run_id, store.run_folder(run_id)
            state = "succeeded"
            unmark: Callable[[], None] = lambda: None  # noqa: E731
            try:
                clean_up_after_crashes(store.folder, run_id)  # what a killed run left running
                unmark = mark_run(store.folder, run_id)  # every process this run starts carries the mark
                self.run_folder.mkdir(parents=True, exist_ok=True)
                jobs = self.options.jobs or os.cpu_count() or 1
                self.executor.open(RunContext(run_id, self.pipeline, self.root, store, self.run_folder, jobs,
                                              preload=self.keys.preload_modules))
                self._prepare_executor()
                self._create_record()
                self._loop(jobs)
            except KeyboardInterrupt:
                state = "interrupted"
                self._signalled = True
                with self._signals_deferred():
                    store.db.finish_run(run_id, state)  # at once: the cancelling below may take seconds
                    self._interrupt()
            except BaseException:
                state = "failed"  # an error of cellpipe's own: the record must not say succeeded
                raise
            finally:
                with self._signals_deferred():
                    state = self._final_state(state)
                    try:
                        store.db.finish_run(run_id, state)
                        # on success every output is in the object store: the scratch space goes
                        self.executor.close(keep_scratch=state != "succeeded")
                        store.publish_run(run_id)
                    finally:
                        unmark()
                        store.unlock()
        return RunResult(run_id, state, self.status, self.run_folder, signalled=self._signalled)

    def _prepare_executor(self) -> None:
        """When a step is sure to run (one of the selected steps was never cached),
        let the executor get ready (kernels, workers) while the run is recorded and
        planned: its optional ``prepare(kernel_name)``."""
        prepare = getattr(self.executor, "prepare", None)
        if prepare is None or self.shared is not None:
            return
        for name in self.planner.order:
            step = self.steps[name]
            if name in self.selected and (self.options.force or
                                          self.store.db.cache_latest(name, step.notebook) is None):
                prepare(self.pipeline.notebook(step.notebook).kernelspec.get("name") or "python3")
                return

    def _final_state(self, state: str) -> str:
        if state == "succeeded" and any(s.state in (FAILED, INTERRUPTED, CHECK_FAILED) for s in self.status.values()):
            return "failed"
        if state == "succeeded" and any(s.state not in TERMINAL for s in self.status.values()):
            return "failed"
        if state == "succeeded" and self.unresolved:  # a learned change this run could not act on
            return "failed"
        return state

    @contextmanager
    def _signals_deferred(self) -> Iterator[None]:
        """While the run records and cleans up, a further Ctrl-C or SIGTERM does not
        break off the bookkeeping: it is noted (and cuts the cancel grace short)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum: int, frame: Any) -> None:
            self._signalled = self._hurry = True

        previous = {sig: signal.signal(sig, note) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _create_record(self) -> None:
        commit, dirty = environment.git_info(self.root)
        all_params = {nb.path: self.options.params.get(nb.path) or {p.name: p.default for p in nb.parameters}
                      for nb in self.pipeline.notebooks}
        self.store.db.create_run({
            "id": self.run_id, "pipeline": self.pipeline.name, "root": str(self.root),
            "notebooks": [nb.path for nb in self.pipeline.notebooks], "started": time.time(),
            "state": "running", "params": all_params, "argv": redact_argv(self.options.argv), "git_commit": commit,
            "git_dirty": None if dirty is None else int(dirty),
            "env": {**environment.python_info(), "packages": self.keys.installed()["versions"]},
            "pid": os.getpid(),
        })

    def _loop(self, jobs: int) -> None:
        """Settle or submit every ready step, in notebook order; collect what finishes."""
        states, to_run = self.states, self.to_run
        while True:
            stopping.check()  # a Ctrl-C whose KeyboardInterrupt was swallowed where it landed
            progressed = True
            while progressed:
                progressed = False
                planner = self.planner  # a run that learns a change plans again
                for name in planner.order:
                    if not planner.ready(name, states):
                        continue
                    if name not in to_run:  # decide once: hashing inputs is not free
                        if not self._settle(name):
                            progressed = True
                            continue
                        to_run.add(name)
                    if len(self.running) >= jobs:
                        continue  # waits for a free slot; later steps may still be cached
                    to_run.discard(name)
                    self._submit(name)
                    progressed = True
            if not self.running:
                if self.planner.finished(states):
                    break
                continue
            for event in self.executor.poll(0.25):
                self._on_event(event)
            self._enforce_time_limits()

    # -- settling a step without running it ------------------------------------------
    def _settle(self, name: str) -> bool:
        """Carry out the planner's decision; True when the step must run."""
        st = self.status[name]
        rebuild = name in self.force_rerun  # its stored output turned out corrupt: run it, selected or not
        decision = self.planner.decide(name, self.states, rebuild=rebuild)
        while True:
            for key in decision.forget:
                self.store.db.cache_drop(key)
            if decision.action == "reuse" and not decision.stale:
                assert decision.entry is not None and decision.key is not None
                try:
                    restored = artifacts_mod.restore_files(self.store, self.root, decision.entry["outputs"])
                except artifacts_mod.CorruptObject:
                    self.store.db.cache_drop(decision.key)
                    decision = self.planner.decide(name, self.states, rebuild=rebuild,
                                                   unusable="stored output file corrupt")
                    continue
                st.warnings += restored
            break
        if decision.key is not None:
            st.key, st.parts = decision.key, decision.parts
        if self.shared is not None:
            st.warnings += self.shared.notes_for(name)
        return self._apply(st, decision)

    def _apply(self, st: StepStatus, decision: Decision) -> bool:
        if decision.action == "skip":
            self._change(st, SKIPPED, decision.reason)
            self._record(st)
        elif decision.action == "reuse":
            entry = decision.entry
            assert entry is not None
            self.outputs[st.name] = entry["outputs"]
            st.metrics = entry["metrics"]
            st.cached_from = entry["run_id"]
            copied = cached.copy_for(self.store, self.pipeline, self.steps[st.name], entry,
                                     self.run_folder / f"{st.name}.ipynb")
            st.output_notebook = str(copied) if copied is not None else None
            if decision.warning:
                st.warnings.append(decision.warning)
            st.timings = dict(timings_mod.CACHED)
            self._change(st, CACHED, decision.reason)
            self.store.db.record_success(self.run_id, self._step_row(st), entry["outputs"], entry["metrics"], False)
        elif decision.action == "fail":
            st.error = {"message": decision.error}
            self._change(st, FAILED, decision.reason)
            self._record(st)
        else:
            st.reason = decision.reason
            return True
        return False

    # -- running a step --------------------------------------------------------------
    def _submit(self, name: str) -> None:
        st, step = self.status[name], self.steps[name]
        nb = self.pipeline.notebook(step.notebook)
        # pass only values that differ from the notebook's defaults: the step
        # notebook's own literal defaults (tuples, int dict keys) stay exact
        chosen = self.options.params.get(step.notebook) or {}
        defaults = {p.name: p.default for p in nb.parameters}
        parameters = {k: v for k, v in chosen.items()
                      if k in step.parameters and (k not in defaults or defaults[k] != v)}
        inputs = {p: self.outputs[p] for p in dict.fromkeys(v.producer for v in step.var_inputs)}
        attempt = self.attempt.get(name, 0) + 1
        out, log = attempt_paths(self.run_folder, name, attempt)
        task = StepTask(step, parameters, inputs, out, log, nb.kernelspec.get("name") or "python3")
        submitted = time.time()  # linking its inputs counts in its time
        try:
            self.executor.submit(task)
        except InputUnavailable as exc:
            # a stored input is corrupt or gone: run its producer again, then this step
            prod = self.status[exc.producer]
            if prod.key:
                self.store.db.cache_drop(prod.key)
            self.force_rerun.add(exc.producer)
            self.outputs.pop(exc.producer, None)
            prod.warnings.append("its stored output was corrupt or missing; running it again")
            self._change(prod, PENDING, "stored output corrupt")
            st.key = None
            return
        self.attempt[name] = attempt
        st.output_notebook, st.log = str(out), str(log)
        st.started = submitted
        st.timings = None
        self.running.add(name)
        limit = self._time_limit(step)
        if limit is not None:
            self.deadlines[name] = time.monotonic() + limit
        self._change(st, RUNNING, f"attempt {attempt} of {step.retries + 1}" if attempt > 1 else "")
        self._record(st)

    def _on_event(self, event: StepEvent) -> None:
        st, step = self.status[event.step], self.steps[event.step]
        if event.state == "running":  # the executor started it (on a worker, in a kernel)
            limit = self._time_limit(step)
            if limit is not None and event.step in self.deadlines and event.step not in self.timed_out:
                self.deadlines[event.step] = time.monotonic() + limit  # waiting for a kernel does not count
            if event.at:
                st.started = event.at
            if event.where:
                st.reason = f"running on {event.where}"
            self.on_change(st)
            return
        heard = time.perf_counter()
        self.running.discard(event.step)
        self.deadlines.pop(event.step, None)
        st.finished = event.at or time.time()
        if event.result is not None:
            result = event.result
            self.outputs[st.name] = result.outputs
            st.metrics = result.metrics
            st.checks = result.checks
            if st.parts is not None:  # cached under the files it read at run time, too
                st.parts = self.keys.finished(st.parts, result.files_read)
                st.key = cachekey.key_of(st.parts)
            st.finished = max(st.finished, time.time())  # recorded now: its bookkeeping counts in its time
            self._time(st, event, record=time.perf_counter() - heard)
            self._change(st, DONE)
            self.store.db.record_success(self.run_id, self._step_row(st), result.outputs, st.metrics,
                                         cache_it=not step.nocache)
            if st.name in self.run_again:  # it read a value a step changed meanwhile: once more
                self.run_again.discard(st.name)
                self._change(st, PENDING, "reads a value another step changed in place")
            if result.changed_inputs:
                self._learn(st, result.changed_inputs)
            return
        assert event.failure is not None
        self._time(st, event)
        self._failed(st, event.failure)

    @staticmethod
    def _time(st: StepStatus, event: StepEvent, record: float = 0.0) -> None:
        """The step's timing breakdown: the executor's phases, the runner's record time."""
        if st.started is None or st.finished is None:
            return
        st.timings = timings_mod.breakdown({**event.timings, "record": record}, st.finished - st.started)

    def _failed(self, st: StepStatus, failure: StepFailure) -> None:
        """Record a failed attempt: the step fails (its downstream steps are then
        skipped), or, tagged ``retry:N``, runs again in a fresh kernel."""
        where = self._source_cell(failure.cell)
        message = failure.message
        if where.get("role") in ("load", "save"):
            message = failure.evalue or message
        error: dict[str, Any] = {"message": message, "ename": failure.ename, "evalue": failure.evalue, **where}
        timed_out = self.timed_out.pop(st.name, None) is not None
        checks = failed_checks(failure.ename, failure.evalue, failure.cell)
        if checks is not None and not timed_out:  # a check, not a crash: downstream blocked, the run exits 3
            error.update(message=checks_message(checks), checks=checks)
            st.error = error
            st.checks = checks
            self._change(st, CHECK_FAILED, f"{sum(1 for c in checks if not c['passed'])} check(s) failed")
            self._record(st)
            return
        if failure.message == CANCELLED and not timed_out:
            st.error = error
            self._change(st, INTERRUPTED)
            self._record(st)
            return
        site = failure_site(self.pipeline, st.output_notebook)
        error.update(site)
        if timed_out:
            step = self.steps[st.name]
            limit = self._time_limit(step) or 0.0
            error.update(message=timeout_message(st.name, limit, step.timeout is not None), ename="Timeout",
                         evalue=f"ran longer than {limit:g} s")
        append_to_log(st.log, [*site.get("traceback", []), *([error["message"]] if timed_out else [])])
        step = self.steps[st.name]
        attempt = self.attempt.get(st.name, 1)
        if attempt <= step.retries:
            seconds = st.seconds
            st.attempts.append({"attempt": attempt, "message": error["message"],
                                "seconds": None if seconds is None else round(seconds, 3),
                                "output_notebook": st.output_notebook})
            st.warnings.append(f"attempt {attempt} of {step.retries + 1} failed ({error['message'][:200]}); "
                               "running it again in a fresh kernel")
            st.finished = None
            self._change(st, PENDING, f"attempt {attempt} failed")
            self._submit(st.name)
            return
        if st.attempts:
            error["attempts"] = st.attempts
        st.error = error
        self._change(st, FAILED)
        self._record(st)

    # -- time limits ----------------------------------------------------------------------
    def _time_limit(self, step: Step) -> float | None:
        """Seconds ``step`` may run: its ``timeout:`` tag, else ``--timeout-step``, else no limit."""
        return step.timeout if step.timeout is not None else self.options.timeout_step

    def _enforce_time_limits(self) -> None:
        """A step past its time limit is interrupted; one that does not stop within
        :data:`CANCEL_GRACE` seconds is killed. Either way it fails, its kernel gone."""
        now = time.monotonic()
        for name, deadline in list(self.deadlines.items()):
            if name not in self.running:
                self.deadlines.pop(name, None)
            elif name not in self.timed_out and now >= deadline:
                self.timed_out[name] = now + CANCEL_GRACE
                self.executor.cancel(name)
            elif name in self.timed_out and now >= self.timed_out[name]:
                self.executor.kill(name)
                self.running.discard(name)
                self.deadlines.pop(name, None)
                st = self.status[name]
                st.finished = time.time()
                self._failed(st, StepFailure(CANCELLED))

    # -- a change the analysis did not see ------------------------------------------------
    def _learn(self, st: StepStatus, changed: list[str]) -> None:
        """``st`` changed inputs in place that the analysis took as read-only. When a
        later step reads one, the store remembers it, the notebooks are compiled
        again with it, and the readers run after ``st`` with its value, in this run;
        without a way to compile again, the run fails and says to run again."""
        step = self.steps[st.name]
        readers = {var: readers_after(self.pipeline, st.name, var) for var in changed}
        readers = {var: names for var, names in readers.items() if names}
        if not readers:
            return  # no later step reads what it changed: Run All gives them nothing else
        for var in readers:
            self.store.db.learn(step.notebook, st.name, var, self.run_id)
        new = self.recompile() if self.recompile is not None else None
        learned = new is not None and all(
            any(v.name == var and v.producer == st.name for v in new.step(r).var_inputs)
            for var, names in readers.items() for r in names)
        for var, names in readers.items():
            who = ", ".join(names)
            producer = next((v.producer for v in step.var_inputs if v.name == var), "?")
            if learned:
                st.warnings.append(
                    f"changed its input {var} in place, which the analysis did not see; cellpipe learned it "
                    f"(run {self.run_id}): step {who} now get{'s' if len(names) == 1 else ''} {var} from "
                    f"{st.name} and run{'s' if len(names) == 1 else ''} after it")
            else:
                st.warnings.append(
                    f"changed its input {var} in place, which the analysis did not see; step {who} got "
                    f"{var} from step {producer}, not the changed value. cellpipe has learned it: run "
                    f"again, and {var} goes from {st.name} to {who}")
        if not learned:
            self.unresolved = True
            return
        assert new is not None
        self._replan(new, st.name)

    def _replan(self, new: Pipeline, learner: str) -> None:
        """Carry on with ``new``: steps whose inputs changed are decided again."""
        again, running = replan(self.pipeline, new, self.states)
        self.pipeline = new
        self.steps = {s.name: s for s in new.steps}
        self.keys.pipeline = new
        self.planner = Planner(new, _StoreLedger(self), self.options.only, self.options.from_steps,
                               self.options.force)
        self.to_run -= again | running | {s.name for s in new.steps if self.status[s.name].state == PENDING}
        self.run_again |= running
        for name in sorted(again):
            st = self.status[name]
            self.outputs.pop(name, None)
            st.key = st.parts = st.cached_from = None
            self._change(st, PENDING, "reads a value another step changed in place")
        # the step that changed it now passes it on: its entry under its new key is
        # this run's outputs (they hold the changed value), so the next run reuses it
        st = self.status[learner]
        parts = self.keys.parts(self.steps[learner], self.outputs, self.options.params.get(st.notebook))
        st.key, st.parts = cachekey.key_of(parts), parts
        self.store.db.record_success(self.run_id, self._step_row(st), self.outputs[learner], st.metrics,
                                     cache_it=not self.steps[learner].nocache)

    # -- the interrupt policy ------------------------------------------------------------
    def _interrupt(self) -> None:
        """Cancel the running steps, give them :data:`CANCEL_GRACE` seconds to stop,
        kill the rest; steps not started are skipped. A step that finished meanwhile keeps
        its result."""
        for name in list(self.running):
            self.executor.cancel(name)
        self._hurry = False  # set by a second Ctrl-C: stop waiting
        deadline = time.monotonic() + CANCEL_GRACE
        while self.running and time.monotonic() < deadline and not self._hurry:
            for event in self.executor.poll(min(0.25, max(deadline - time.monotonic(), 0.0))):
                if event.state == "finished" and event.result is None:
                    self.running.discard(event.step)
                    self._stopped(event.step, event.at)
                else:
                    self._on_event(event)
        for name in list(self.running):
            self.executor.kill(name)
            self._stopped(name, 0.0)
        self.running.clear()
        for st in self.status.values():
            if st.state == PENDING:
                self._change(st, SKIPPED, "run interrupted")

    def _stopped(self, name: str, at: float) -> None:
        st = self.status[name]
        st.finished = at or time.time()
        self._change(st, INTERRUPTED, "interrupted")
        self._record(st)

    # -- helpers ---------------------------------------------------------------------------
    def _change(self, st: StepStatus, new_state: str, reason: str = "") -> None:
        st.state = new_state
        if reason:
            st.reason = reason
        self.on_change(st)

    def _record(self, st: StepStatus) -> None:
        self.store.db.record_step(self.run_id, self._step_row(st))

    @staticmethod
    def _source_cell(cell: dict[str, Any] | None) -> dict[str, Any]:
        meta = ((cell or {}).get("metadata") or {}).get("cellpipe") or {}
        src = meta.get("source") or {}
        return {"role": meta.get("role"), "notebook": src.get("notebook"), "cell": src.get("number"),
                "cell_id": src.get("id")}

    def _step_row(self, st: StepStatus) -> dict[str, Any]:
        return {"step": st.name, "notebook": st.notebook, "state": st.state, "key": st.key, "parts": st.parts,
                "started": st.started, "finished": st.finished, "output_notebook": st.output_notebook,
                "log": st.log, "error": st.error, "cached_from": st.cached_from, "warnings": st.warnings,
                "checks": st.checks, "timings": st.timings}
