"""What a Dask worker runs for one step (the client side is :mod:`.dask`).

:func:`run_step` is the task: it lays the step's inputs out from the store in a
scratch folder of its own, runs the compiled step notebook with papermill in a
kernel of its own (taken from a per-run pool of warm kernels on this worker,
whose kernels go when the worker goes), puts the outputs into the store and the
output notebook and log beside the run's, and returns a small summary: the
object hashes and metrics, never the values. It watches a Dask event that the
client sets to cancel it (an interrupt in the kernel), and its own task's state
on this worker: once the task is cancelled (the client killed it, or the client
is gone) the kernel is killed.

What crosses the scheduler is small: the step's notebook and description in,
hashes and metrics out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

from cellpipe.engine.executors.base import CANCELLED, StepFailure
from cellpipe.engine.fileutil import hash_file
from cellpipe.engine.store import Store
from cellpipe.engine.store import artifacts as artifacts_mod
from cellpipe.engine.store.backend import Storage, open_storage
from cellpipe.engine.store.objects import ObjectStore

#: how often a running step looks whether it is cancelled or killed (seconds)
WATCH_EVERY = 0.3

#: a run's idle kernels on a worker go after this many seconds without a step of the
#: run (its client may be gone without a word: killed, cut off)
IDLE = float(os.environ.get("CELLPIPE_DASK_KERNEL_IDLE", "60"))

_lock = threading.Lock()
_pools: dict[tuple[str, str], _Kernels] = {}  # (run, kernel name) -> its kernels, on this worker
_used: dict[str, float] = {}  # run -> when a step of it last ran here (monotonic)
_busy: dict[str, int] = {}  # run -> its steps running here now
_reaper: list[threading.Thread] = []
_storages: dict[str, Storage] = {}  # store URL -> Storage, on this worker


class _WorkerStore:
    """What :func:`~cellpipe.engine.store.artifacts.ingest` and ``link_outputs``
    use of a :class:`~cellpipe.engine.store.Store` (its objects, a file's hash),
    without the launching machine's SQLite metadata."""

    def __init__(self, storage: Storage) -> None:
        self.objects = ObjectStore(storage)

    def file_hash(self, path: Path) -> str:
        return hash_file(path)


def _storage(url: str) -> Storage:
    with _lock:
        if url not in _storages:
            _storages[url] = open_storage(url)
        return _storages[url]


class _Kernels:
    """A run's kernels on this worker: as in a local run, forked (on Linux) from a
    server that has imported the pipeline's modules, else ordinary warm kernels
    that import them ahead; either way they go when the worker process goes."""

    def __init__(self, kernel_name: str, size: int, preload: tuple[str, ...]) -> None:
        from cellpipe.engine.executors.kernels import same_interpreter
        from cellpipe.engine.executors.local import KernelPool, fork_by_default

        self.forks: Any = None
        self.folder: Path | None = None
        if fork_by_default() and same_interpreter(kernel_name):
            from cellpipe.engine.executors.forkserver import ForkServer

            # an empty folder of its own: preloading never imports a project's code
            self.folder = Path(tempfile.mkdtemp(prefix="cellpipe-forks-"))
            self.forks = ForkServer(str(self.folder), list(preload))
            if not self.forks.wait():
                self.forks.close()
                self.forks = None
        self.pool = KernelPool(kernel_name, size, warm=True, server=self.forks, preload=preload)

    def close(self) -> None:
        self.pool.close()
        if self.forks is not None:
            self.forks.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _pool(run_id: str, kernel_name: str, size: int, preload: tuple[str, ...]) -> Any:
    """This run's pool of kernels on this worker (see :class:`_Kernels`)."""
    with _lock:
        key = (run_id, kernel_name)
        _used[run_id] = time.monotonic()
        if key not in _pools:
            _pools[key] = _Kernels(kernel_name, size, preload)
        if not _reaper:
            _reaper.append(threading.Thread(target=_reap, name="cellpipe-reap-kernels", daemon=True))
            _reaper[0].start()
        return _pools[key].pool


def _reap() -> None:
    """Close the pools of runs that have had no step here for :data:`IDLE` seconds."""
    while True:
        time.sleep(max(min(IDLE / 4, 5.0), 0.2))
        now = time.monotonic()
        with _lock:  # chosen and taken out under the lock: a step starting now gets a new pool
            idle = {run for run, at in _used.items() if not _busy.get(run) and now - at > IDLE}
            pools = [p for (run, _), p in _pools.items() if run in idle]
            for key in [k for k in _pools if k[0] in idle]:
                del _pools[key]
            for run in idle:
                _used.pop(run, None)
        for pool in pools:
            pool.close()


async def warm(run_id: str, kernel_name: str, preload: list[str], dask_worker: Any = None) -> None:
    """Start this run's kernels on this worker ahead of its first step (``Client.run``;
    a coroutine, so that the client need not wait; the kernels start in a thread)."""
    size = max(int(dask_worker.state.nthreads), 1)
    threading.Thread(target=_pool, args=(run_id, kernel_name, size, tuple(preload)), daemon=True,
                     name="cellpipe-warm").start()


def release(run_id: str) -> int:
    """Shut down this run's idle kernels on this worker (run by the client at the end); how many pools."""
    with _lock:
        pools = [p for (run, _), p in _pools.items() if run == run_id]
        for key in [k for k in _pools if k[0] == run_id]:
            del _pools[key]
        _used.pop(run_id, None)
    for pool in pools:
        pool.close()
    return len(pools)


def _failure(exc: StepFailure, where: str) -> dict[str, Any]:
    return {"ok": False, "message": exc.message, "ename": exc.ename, "evalue": exc.evalue, "cell": exc.cell,
            "where": where}


def run_step(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one step on this worker (see the module's docstring); ``spec`` is made by
    :meth:`cellpipe.engine.executors.dask.DaskExecutor.submit`."""
    from distributed import Event, get_worker

    from cellpipe.engine.executors.local import Execution

    worker = get_worker()
    where = worker.address
    key = worker.get_current_task()
    cancel = Event(spec["cancel_event"])
    if cancel.is_set():  # cancelled before it started
        cancel.clear()
        return _failure(StepFailure(CANCELLED), where)
    worker.log_event(spec["topic"], {"step": spec["step"], "state": "running", "where": where, "at": time.time()})
    storage = _storage(spec["store"])
    store = cast(Store, _WorkerStore(storage))  # ingest and link_outputs use only .objects and .file_hash
    scratch = Path(tempfile.mkdtemp(prefix="cellpipe-dask-"))
    output, log = scratch / "output.ipynb", scratch / "step.log"
    cancelled = killed = False
    run_id = spec["run"]
    with _lock:
        _busy[run_id] = _busy.get(run_id, 0) + 1
    linking = time.perf_counter()
    try:
        artifacts = scratch / "artifacts"
        for producer, produced in spec["inputs"].items():
            if not artifacts_mod.link_outputs(store, artifacts / producer, producer, produced):
                return _failure(StepFailure(
                    f"an input from step {producer} is corrupt or missing in the store {storage.url}. "
                    "Fix: run again (the producer runs again)", "InputUnavailable", producer), where)
        linked = time.perf_counter() - linking
        pool = _pool(run_id, spec["kernel_name"], max(int(worker.state.nthreads), 1), tuple(spec["preload"]))
        execution = Execution(pool)
        execution.timings["load"] = linked  # the cells' load time is added to it
        parameters = {**spec["parameters"], "cellpipe_artifacts": str(artifacts)}
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                execution.run(spec["notebook"], output, parameters, log, spec["kernel_name"])
            except BaseException as exc:  # noqa: BLE001 - handed to the task's thread
                outcome["error"] = exc

        thread = threading.Thread(target=work, name="cellpipe-dask-step", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(WATCH_EVERY)
            if not thread.is_alive():
                break
            if not killed and _abandoned(worker, key):
                killed = True
                execution.kill()
            elif not cancelled and cancel.is_set():
                cancelled = True
                execution.cancel()
        error = outcome.get("error")
        if error is None and killed:
            error = StepFailure(CANCELLED)
        if error is not None:
            failure = error if isinstance(error, StepFailure) else StepFailure(f"{type(error).__name__}: {error}")
            return {**_failure(failure, where), "timings": execution.timings}
        ingesting = time.perf_counter()
        try:
            produced = artifacts_mod.ingest(store, Path(spec["root"]), spec["step_obj"], artifacts / spec["step"])
        except (OSError, ValueError, KeyError) as err:
            return _failure(StepFailure(f"could not store the outputs: {err}"), where)
        timings = dict(execution.timings)
        timings["save"] = timings.get("save", 0.0) + time.perf_counter() - ingesting
        return {"ok": True, "produced": produced, "where": where, "timings": timings}
    finally:
        # the evidence first: the output notebook and the log go beside the run's
        for path, evidence in ((output, spec["notebook_key"]), (log, spec["log_key"])):
            if path.exists():
                try:
                    storage.put_file(evidence, path)
                except OSError:
                    pass
        shutil.rmtree(scratch, ignore_errors=True)
        if cancelled:
            cancel.clear()  # the last one to look at it: the scheduler forgets it
        with _lock:
            _busy[run_id] -= 1
            if not _busy[run_id]:
                del _busy[run_id]
            _used[run_id] = time.monotonic()
        if killed:  # the run is over (interrupted, or its client is gone): its kernels here go
            release(run_id)


def _abandoned(worker: Any, key: Any) -> bool:
    """Whether the scheduler no longer wants this task (cancelled, or its client left)."""
    ts = worker.state.tasks.get(key)
    return ts is None or ts.state in ("cancelled", "released", "forgotten")


def worker_pid() -> int:
    """The worker process's id (tests and diagnostics)."""
    return os.getpid()
