"""plan -> cached? -> execute -> record. The failure policy lives here.

A failing step marks its downstream steps ``skipped``; independent branches
finish. All store writes happen on the calling thread; worker threads only run
papermill. A killed run leaves only whole objects and whole records behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.core import cachekey as cache
from cellpipe.core.emit import step_notebook
from cellpipe.core.graph import select
from cellpipe.engine import environment
from cellpipe.engine.keys import KeyParts
from cellpipe.engine.store import Store
from cellpipe.engine.store import artifacts as artifacts_mod
from cellpipe.errors import UsageError
from cellpipe.model import Pipeline, Step

PENDING, RUNNING, CACHED, DONE, FAILED, SKIPPED, INTERRUPTED = (
    "pending", "running", "cached", "done", "failed", "skipped", "interrupted",
)
TERMINAL = {CACHED, DONE, FAILED, SKIPPED, INTERRUPTED}


@dataclass
class RunOptions:
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # {notebook: {name: value}}
    jobs: int = 0  # 0: the machine's cores
    only: list[str] = field(default_factory=list)
    from_steps: list[str] = field(default_factory=list)
    force: bool = False
    wait: float = 0.0
    argv: list[str] = field(default_factory=list)
    warm_kernels: bool = True
    #: fork kernels from a process that has imported the pipeline's libraries (Linux)
    fork_kernels: bool = sys.platform.startswith("linux") and os.environ.get("CELLPIPE_FORK", "1") != "0"
    run_id: str | None = None


@dataclass
class StepStatus:
    name: str
    notebook: str
    state: str = PENDING
    reason: str = ""
    started: float | None = None
    finished: float | None = None
    error: dict[str, Any] | None = None
    output_notebook: str | None = None
    log: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    key: str | None = None
    parts: dict[str, Any] | None = None
    cached_from: str | None = None
    selected: bool = True

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.name, "notebook": self.notebook, "state": self.state, "reason": self.reason,
            "seconds": None if self.seconds is None else round(self.seconds, 3), "error": self.error,
            "output_notebook": self.output_notebook, "metrics": self.metrics, "warnings": self.warnings,
            "cached_from": self.cached_from,
        }


@dataclass
class RunResult:
    run_id: str
    state: str
    steps: dict[str, StepStatus]
    run_folder: Path

    @property
    def exit_code(self) -> int:
        return 0 if self.state == "succeeded" else 1

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run_id, "state": self.state, "exit_code": self.exit_code,
                "run_folder": str(self.run_folder), "steps": [s.to_dict() for s in self.steps.values()]}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime()) + "-" + secrets.token_hex(2)


class Runner:
    """Runs one pipeline against one store."""

    def __init__(self, pipeline: Pipeline, root: Path, store: Store, options: RunOptions,
                 on_change: Callable[[StepStatus], None] | None = None) -> None:
        self.pipeline = pipeline
        self.root = root
        self.store = store
        self.options = options
        self.on_change = on_change or (lambda s: None)
        self.selected = select(pipeline, options.only, options.from_steps)
        self.status = {s.name: StepStatus(s.name, s.notebook, selected=s.name in self.selected)
                       for s in pipeline.steps}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.force_rerun: set[str] = set()
        self.keys = KeyParts(pipeline, root, store)

    # -- keys (cellpipe.engine.keys) ------------------------------------------------------
    def parts_for(self, step: Step) -> dict[str, Any]:
        """The step's cache-key parts, given the outputs of its upstream steps."""
        params = self.options.params.get(step.notebook)
        return self.keys.parts(step, self.outputs, params)

    # -- cache and artifacts (the moving is in cellpipe.engine.store.artifacts) -----------
    def _materialize_inputs(self, step: Step, artifacts: Path) -> str | None:
        """Link the step's input variables into the run's artifact folder.

        Returns the producer whose object is corrupt or missing, if any.
        """
        for producer in dict.fromkeys(v.producer for v in step.var_inputs):
            if self.status[producer].state == DONE and (artifacts / producer / "_outputs.json").exists():
                continue  # it ran in this run: its outputs are already there
            if not artifacts_mod.link_outputs(self.store, artifacts / producer, producer, self.outputs[producer]):
                return producer
        return None

    def _source_cell(self, step: Step, cell: dict[str, Any] | None) -> dict[str, Any]:
        meta = ((cell or {}).get("metadata") or {}).get("cellpipe") or {}
        src = meta.get("source") or {}
        return {"role": meta.get("role"), "notebook": src.get("notebook"), "cell": src.get("number"),
                "cell_id": src.get("id")}

    # -- the loop ------------------------------------------------------------------
    def run(self) -> RunResult:
        from cellpipe.engine.executors.forkserver import ForkServer
        from cellpipe.engine.executors.local import Execution, KernelPool, StepFailure

        run_id = self.options.run_id or new_run_id()
        if self.store.db.run(run_id, prefix=False) is not None:
            raise UsageError(f"run id {run_id} already exists in the store")
        store = self.store
        store.lock(run_id, wait=self.options.wait)
        run_folder = store.run_folder(run_id)
        artifacts = run_folder / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        commit, dirty = environment.git_info(self.root)
        all_params = {nb.path: self.options.params.get(nb.path) or {p.name: p.default for p in nb.parameters}
                      for nb in self.pipeline.notebooks}
        store.db.create_run({
            "id": run_id, "pipeline": self.pipeline.name, "root": str(self.root),
            "notebooks": [nb.path for nb in self.pipeline.notebooks], "started": time.time(),
            "state": "running", "params": all_params, "argv": self.options.argv, "git_commit": commit,
            "git_dirty": None if dirty is None else int(dirty),
            "env": {**environment.python_info(), "packages": self.keys.installed()["versions"]},
            "pid": os.getpid(),
        })

        jobs = self.options.jobs or os.cpu_count() or 1
        steps = {s.name: s for s in self.pipeline.steps}
        order = self.pipeline.step_names
        pool: KernelPool | None = None
        forks: ForkServer | None = None
        running: dict[Future, tuple[str, Execution]] = {}
        to_run: set[str] = set()  # decided to execute, waiting for a free slot
        state = "succeeded"

        def kernel_name(step: Step) -> str:
            return self.pipeline.notebook(step.notebook).kernelspec.get("name") or "python3"

        def change(st: StepStatus, new_state: str, reason: str = "") -> None:
            st.state = new_state
            if reason:
                st.reason = reason
            self.on_change(st)

        def record(st: StepStatus) -> None:
            store.db.record_step(run_id, self._step_row(st))

        def decide(name: str) -> bool:
            """Settle a step without running it (cached or skipped); True when it must run."""
            st = self.status[name]
            step = steps[name]
            bad = [d for d in step.depends_on if self.status[d].state in (FAILED, SKIPPED, INTERRUPTED)]
            if bad:
                change(st, SKIPPED, f"upstream step {bad[0]} {self.status[bad[0]].state}")
                record(st)
                return False
            parts = self.parts_for(step)
            key = cache.key_of(parts)
            st.key, st.parts = key, parts
            hit = store.db.cache_get(key)
            if hit and not artifacts_mod.present(store, hit["outputs"]):
                store.db.cache_drop(key)
                hit = None
                missing_reason = "stored outputs missing"
            else:
                missing_reason = ""
            rebuild = name in self.force_rerun  # its stored output turned out corrupt: run it, selected or not
            must_run = rebuild or (st.selected and (self.options.force or step.nocache))
            if hit and not must_run:
                try:
                    st.warnings += artifacts_mod.restore_files(store, self.root, hit["outputs"])
                except artifacts_mod.CorruptObject:
                    store.db.cache_drop(key)
                    hit = None
                    missing_reason = "stored output file corrupt"
                else:
                    self.outputs[name] = hit["outputs"]
                    st.metrics = hit["metrics"]
                    st.cached_from = hit["run_id"]
                    change(st, CACHED, "up to date")
                    store.db.record_success(run_id, self._step_row(st), hit["outputs"], hit["metrics"], False)
                    return False
            if not st.selected and not rebuild:
                latest = store.db.cache_latest(name, step.notebook)
                if latest and artifacts_mod.present(store, latest["outputs"]):
                    self.outputs[name] = latest["outputs"]
                    st.metrics = latest["metrics"]
                    st.cached_from = latest["run_id"]
                    why = cache.explain(latest["parts"], parts) or "stale"
                    st.warnings.append(f"not selected; using its last outputs although it is stale ({why})")
                    change(st, CACHED, f"not selected, stale: {why}")
                    store.db.record_success(run_id, self._step_row(st), latest["outputs"], latest["metrics"], False)
                    return False
                st.error = {"message": f"step {name} is not selected and has never run; run it first "
                            f"(cellpipe run --only {name}) or drop --only/--from"}
                change(st, FAILED, "not selected and never run")
                record(st)
                return False
            if must_run:
                st.reason = ("stored output corrupt" if rebuild else
                             "forced" if self.options.force else "nocache")
            else:
                latest = store.db.cache_latest(name, step.notebook)
                st.reason = missing_reason or cache.explain(latest["parts"] if latest else None, parts) or "changed"
            return True

        def launch(name: str) -> None:
            nonlocal pool, forks
            st = self.status[name]
            step = steps[name]
            bad = self._materialize_inputs(step, artifacts)
            if bad is not None:
                # a stored input is corrupt or gone: run its producer again, then this step
                prod = self.status[bad]
                if prod.key:
                    store.db.cache_drop(prod.key)
                self.force_rerun.add(bad)
                self.outputs.pop(bad, None)
                prod.warnings.append("its stored output was corrupt or missing; running it again")
                change(prod, PENDING, "stored output corrupt")
                st.key = None
                return
            if pool is None:
                spec = None
                if self.options.fork_kernels:
                    forks = ForkServer(str(store.folder), self.keys.preload_modules())
                    if forks.wait():
                        spec = forks.kernel_spec()
                    else:
                        forks.close()
                        forks = None
                # a few more ready kernels than parallel steps: a quick chain of steps
                # takes kernels faster than one start at a time can make them
                size = (jobs + 2) if self.options.warm_kernels else 0
                pool = KernelPool(kernel_name(step), size, warm=self.options.warm_kernels, spec=spec)
            nb = self.pipeline.notebook(step.notebook)
            # pass only values that differ from the notebook's defaults: the step
            # notebook's own literal defaults (tuples, int dict keys) stay exact
            chosen = self.options.params.get(step.notebook) or {}
            defaults = {p.name: p.default for p in nb.parameters}
            parameters = {k: v for k, v in chosen.items()
                          if k in step.parameters and (k not in defaults or defaults[k] != v)}
            parameters["cellpipe_artifacts"] = str(artifacts)
            parameters["cellpipe_workdir"] = str((self.root / step.notebook).parent)
            notebook = step_notebook(self.pipeline, step, str(artifacts), str((self.root / nb.path).parent))
            out = run_folder / f"{name}.ipynb"
            log = run_folder / f"{name}.log"
            st.output_notebook, st.log = str(out), str(log)
            st.started = time.time()
            change(st, RUNNING)
            record(st)
            execution = Execution(pool)
            future = _in_thread(execution.run, notebook, out, parameters, log, kernel_name(step))
            running[future] = (name, execution)

        def finish(future: Future) -> None:
            nonlocal state
            name, _ = running.pop(future)
            st = self.status[name]
            step = steps[name]
            st.finished = time.time()
            exc = future.exception()
            if exc is None:
                try:
                    produced = artifacts_mod.ingest(store, self.root, step, artifacts / step.name)
                except (OSError, ValueError, KeyError) as err:
                    exc = StepFailure(f"could not store the outputs: {err}")
                else:
                    self.outputs[name] = {"variables": produced["variables"], "files": produced["files"]}
                    st.metrics = produced["metrics"]
                    for var in produced["changed_inputs"]:
                        st.warnings.append(
                            f"changed its input {var} in place, which the analysis did not see; later steps "
                            f"get {var} from step {self.status[name].parts['where']['producers'].get(var)}, "
                            f"not the changed value (assign it to {var} explicitly)")
                    change(st, DONE)
                    store.db.record_success(run_id, self._step_row(st), self.outputs[name], st.metrics,
                                            cache_it=not step.nocache)
                    return
            failure = exc if isinstance(exc, StepFailure) else StepFailure(f"{type(exc).__name__}: {exc}")
            where = self._source_cell(step, failure.cell)
            message = failure.message
            if where.get("role") in ("load", "save"):
                message = failure.evalue or message
            st.error = {"message": message, "ename": failure.ename, "evalue": failure.evalue, **where}
            change(st, INTERRUPTED if failure.message == "cancelled" else FAILED)
            record(st)
            if st.state == FAILED:
                state = "failed"

        try:
            while True:
                progressed = True
                while progressed:
                    progressed = False
                    for name in order:
                        st = self.status[name]
                        if st.state != PENDING:
                            continue
                        if any(self.status[d].state not in TERMINAL for d in steps[name].depends_on):
                            continue
                        if name not in to_run:  # decide once: hashing inputs is not free
                            if not decide(name):
                                progressed = True
                                continue
                            to_run.add(name)
                        if len(running) >= jobs:
                            continue  # waits for a free slot; later steps may still be cached
                        to_run.discard(name)
                        launch(name)
                        progressed = True
                if not running:
                    if all(s.state in TERMINAL for s in self.status.values()):
                        break
                    if not any(
                        s.state == PENDING and all(self.status[d].state in TERMINAL for d in steps[s.name].depends_on)
                        for s in self.status.values()
                    ):
                        break
                    continue
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    finish(future)
        except KeyboardInterrupt:
            state = "interrupted"
            for _name, execution in list(running.values()):
                execution.cancel()
            wait(list(running), timeout=5)
            for future, (_name, execution) in list(running.items()):
                if not future.done():
                    execution.kill()  # the daemon thread waiting on it is left behind
            for name, _execution in list(running.values()):
                st = self.status[name]
                st.finished = time.time()
                change(st, INTERRUPTED, "interrupted")
                record(st)
            running.clear()
            for st in self.status.values():
                if st.state == PENDING:
                    change(st, SKIPPED, "run interrupted")
        except BaseException:
            state = "failed"  # an error of cellpipe's own: the record must not say succeeded
            for _name, execution in list(running.values()):
                execution.kill()
            raise
        finally:
            if pool is not None:
                pool.close()
            if forks is not None:
                forks.close()
            if state == "succeeded" and any(s.state in (FAILED, INTERRUPTED) for s in self.status.values()):
                state = "failed"
            if state == "succeeded" and any(s.state not in TERMINAL for s in self.status.values()):
                state = "failed"
            try:
                store.db.finish_run(run_id, state)
                store.publish_run(run_id)
            finally:
                store.unlock()
            if state == "succeeded":  # every output is in the object store now
                shutil.rmtree(artifacts, ignore_errors=True)
        return RunResult(run_id, state, self.status, run_folder)

    def _step_row(self, st: StepStatus) -> dict[str, Any]:
        return {"step": st.name, "notebook": st.notebook, "state": st.state, "key": st.key, "parts": st.parts,
                "started": st.started, "finished": st.finished, "output_notebook": st.output_notebook,
                "log": st.log, "error": st.error, "cached_from": st.cached_from, "warnings": st.warnings}


def _in_thread(fn: Callable[..., Any], *args: Any) -> Future:
    """Run ``fn`` in a daemon thread: a step cancelled while its client still waits
    on a killed kernel must not keep the process from exiting."""
    future: Future = Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the runner through the future
            future.set_exception(exc)

    threading.Thread(target=work, name="cellpipe-step", daemon=True).start()
    return future


