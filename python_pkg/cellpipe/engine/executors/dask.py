"""The Dask executor: each step a task on a Dask cluster (``distributed``).

``cellpipe run NB --executor dask --address tcp://HOST:8786`` connects to a
running scheduler; without ``--address`` a :class:`distributed.LocalCluster` of
worker processes on 127.0.0.1 is started for the run (at the first step that
runs) and closed at its end.

A step is one task (:func:`.daskstep.run_step`): the worker lays the step's
inputs out from the store, runs the compiled step notebook with papermill in a
kernel of its own, puts the outputs into the store and the output notebook and
log beside the run's, and returns only their hashes and the metrics. So the
store (``--store``) must be a folder or an fsspec URL every worker reaches, and
the project's folder must be at the same path on the workers (a shared
filesystem; one machine is the simple case): steps run in their notebook's
folder and read and write ``in:``/``out:`` files there. ``out:`` files also go
through the store, and are put in place here when this machine does not share
the workers' folder.

The workers tell the client through the scheduler when a step starts (an event
on the topic ``cellpipe-<run>``); a worker that leaves while running a step
(killed, out of memory, cut off) fails that step with the reason, like a dead
kernel in a local run, and the run goes on with the steps that do not need it.
Cancelling sets a Dask :class:`~distributed.Event` that the task watches (the
kernel gets an interrupt); killing cancels the task, which the worker notices
and kills its kernel.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import queue
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cellpipe.core.emit import step_notebook
from cellpipe.engine.executors.base import (
    CANCELLED,
    InputUnavailable,
    RunContext,
    StepEvent,
    StepFailure,
    StepResult,
    StepTask,
)
from cellpipe.engine.store import artifacts as artifacts_mod
from cellpipe.errors import UsageError

#: seconds to wait for a scheduler to answer before giving up
CONNECT_TIMEOUT = 5.0
#: the extra that installs this executor's dependencies
EXTRA = "cellpipe[dask]"


def _shown(address: str) -> str:
    """``address`` without any ``user:password@`` part (never printed or stored)."""
    return re.sub(r"//[^/@]*@", "//", address)


@dataclass
class _Running:
    future: Any  # a distributed.Future
    task: StepTask
    cancel_event: str
    where: str = ""  # the worker's address once it said it started


class DaskExecutor:
    """Steps as tasks on a Dask cluster: ``address`` names its scheduler, or None for a
    :class:`distributed.LocalCluster` of ``workers`` processes (default: the run's jobs)."""

    name = "dask"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        if importlib.util.find_spec("distributed") is None:  # without importing it: that takes seconds
            raise UsageError(f"--executor dask needs the package `distributed`, which is not installed. "
                             f"Fix: pip install '{EXTRA}'")
        self.address = address
        self.workers = workers
        self.connect_timeout = connect_timeout
        self.client: Any = None
        self.cluster: Any = None
        self._running: dict[str, _Running] = {}
        self._ran: set[str] = set()  # steps that ran in this run: their outputs are fresh in the store
        self._heard: queue.Queue = queue.Queue()  # what the scheduler told us, from the client's thread
        self._submitted = 0
        self._preload: list[str] | None = None  # the pipeline's installed modules, once asked

    # -- connecting -------------------------------------------------------------------
    def open(self, context: RunContext) -> None:
        self.context = context
        self.topic = f"cellpipe-{context.run_id}"
        if self.address:  # a scheduler that is not there fails the run at once, not at its first step
            self._probe()
            self._connect()

    def _probe(self) -> None:
        """Fail at once when nothing listens at a tcp:// or tls:// address (before
        importing distributed, which alone takes seconds on a busy machine)."""
        assert self.address
        parts = urlsplit(self.address if "://" in self.address else f"tcp://{self.address}")
        if parts.scheme not in ("tcp", "tls") or not parts.hostname:
            return
        try:
            with socket.create_connection((parts.hostname, parts.port or 8786), timeout=self.connect_timeout):
                pass
        except OSError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: BaseException) -> UsageError:
        assert self.address
        shown = _shown(self.address)
        return UsageError(
            f"cannot reach the Dask scheduler at {shown} within {self.connect_timeout:g} s "
            f"({type(exc).__name__}: {str(exc).replace(self.address, shown)}). Fix: start it (`dask scheduler`), check the address and port "
            "(tcp://HOST:8786), or leave out --address to run on a local cluster")

    def _connect(self) -> None:
        from distributed import Client

        if self.address:
            try:
                self.client = Client(self.address, timeout=self.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise self._unreachable(exc) from None
        else:
            from distributed import LocalCluster

            n = self.workers or max(1, min(self.context.jobs, os.cpu_count() or 1))
            # no dashboard; the scheduler's HTTP endpoints on a free port, never a taken 8787 and its warning
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                        silence_logs=logging.ERROR)
            self.client = Client(self.cluster, set_as_default=False)
        self.client.subscribe_topic(self.topic, self._heard.put)
        self.client.subscribe_topic("all", self._heard.put)  # the scheduler's news: workers leaving

    # -- running steps ----------------------------------------------------------------
    def submit(self, task: StepTask) -> None:
        from cellpipe.engine.executors import daskstep

        ctx, step = self.context, task.step
        store = ctx.store
        inputs = {p: task.inputs[p] for p in dict.fromkeys(v.producer for v in step.var_inputs)}
        for producer, produced in inputs.items():
            if producer in self._ran:
                continue  # stored by this run a moment ago
            bad = [a["hash"] for a in produced["variables"].values() if not store.objects.verify(a["hash"])]
            if bad:  # a corrupt object goes, so that the producer's next run stores it again
                for digest in bad:
                    store.objects.remove(digest)
                raise InputUnavailable(producer)
        if self.client is None:
            self._connect()
        if self._preload is None:
            self._warm(task.kernel_name)
        workdir = str((ctx.root / step.notebook).parent)
        self._submitted += 1
        key = f"cellpipe-{ctx.run_id}-{step.name}-{self._submitted}"
        cancel_event = f"{key}-cancel"
        spec: dict[str, Any] = {
            "run": ctx.run_id, "step": step.name, "step_obj": step, "root": str(ctx.root),
            "notebook": step_notebook(ctx.pipeline, step, "", workdir),
            "parameters": {**task.parameters, "cellpipe_workdir": workdir},
            "inputs": inputs, "store": store.storage.location, "kernel_name": task.kernel_name,
            "preload": self._preload,
            "topic": self.topic, "cancel_event": cancel_event,
            "notebook_key": self._key(task.output_notebook), "log_key": self._key(task.log),
        }
        future = self.client.submit(daskstep.run_step, spec, key=key, pure=False)
        self._running[step.name] = _Running(future, task, cancel_event)

    def _warm(self, kernel_name: str) -> None:
        """Have up to ``jobs`` workers start their kernels (importing the pipeline's
        modules) while the first step is on its way, as the local pool does."""
        from cellpipe.engine.executors import daskstep

        self._preload = list(self.context.preload())
        workers = list(self.client.scheduler_info(n_workers=-1)["workers"])[: self.context.jobs]
        try:
            self.client.run(daskstep.warm, self.context.run_id, kernel_name, self._preload, workers=workers,
                            wait=False)
        except Exception:  # noqa: BLE001 - only a head start: the steps start their kernels anyway
            logging.getLogger(__name__).debug("could not start kernels ahead", exc_info=True)

    def _key(self, path: Path) -> str:
        """The storage key of a run-folder file (for a local store, that very file)."""
        try:
            return path.relative_to(self.context.store.folder).as_posix()
        except ValueError:
            return f"runs/{self.context.run_id}/{path.name}"

    def poll(self, timeout: float) -> list[StepEvent]:
        deadline = time.monotonic() + timeout
        events: list[StepEvent] = []
        while True:
            while True:
                try:
                    events += self._news(self._heard.get_nowait())
                except queue.Empty:
                    break
            for name, running in list(self._running.items()):
                if running.future.done():
                    del self._running[name]
                    events.append(self._collect(name, running))
            remaining = deadline - time.monotonic()
            if events or remaining <= 0 or not self._running:
                return events
            try:
                events += self._news(self._heard.get(timeout=min(remaining, 0.05)))
            except queue.Empty:
                pass

    def _news(self, item: Any) -> list[StepEvent]:
        """A message on our topic (a step started) or the scheduler's (a worker left)."""
        _, msg = item
        if not isinstance(msg, dict):
            return []
        if msg.get("state") == "running":
            running = self._running.get(msg.get("step", ""))
            if running is None:
                return []
            running.where = msg.get("where", "")
            return [StepEvent(msg["step"], "running", at=float(msg.get("at") or 0.0), where=running.where)]
        if msg.get("action") == "remove-worker" and not msg.get("expected"):
            gone = msg.get("worker", "")
            events = []
            for name, running in list(self._running.items()):
                if running.where and running.where == gone:
                    del self._running[name]
                    self.client.cancel(running.future)  # not again elsewhere: the step failed
                    events.append(StepEvent(name, "finished", at=time.time(), failure=StepFailure(
                        f"the Dask worker {gone} running this step died or lost contact with the scheduler "
                        "while it ran (killed, out of memory, or a network failure); its kernel went with it. "
                        "Fix: run again (finished steps are cached)", "WorkerDied", gone)))
            return events
        return []

    def _collect(self, name: str, running: _Running) -> StepEvent:
        finished = time.time()
        future, task = running.future, running.task
        if future.status == "cancelled":
            return StepEvent(name, "finished", failure=StepFailure(CANCELLED), at=finished)
        if future.status == "error":
            exc = future.exception()
            message = f"{type(exc).__name__}: {exc}"
            if type(exc).__name__ == "KilledWorker":
                message = (f"the Dask workers that ran this step died each time ({exc}). Fix: look at the "
                           "workers' logs (memory limit, a crash in a native library), then run again")
            return StepEvent(name, "finished", failure=StepFailure(message, type(exc).__name__, str(exc)),
                             at=finished)
        out = future.result()
        future.release()
        self._fetch(task)
        where = out.get("where", "")
        if not out["ok"]:
            failure = StepFailure(out["message"], out.get("ename", ""), out.get("evalue", ""), out.get("cell"))
            return StepEvent(name, "finished", failure=failure, at=finished, where=where,
                             timings=out.get("timings") or {})
        produced = out["produced"]
        ctx = self.context
        try:  # a machine that does not share the workers' folder gets the out: files from the store
            notes = artifacts_mod.restore_files(ctx.store, ctx.root, {"files": produced["files"]})
        except (OSError, artifacts_mod.CorruptObject) as err:
            return StepEvent(name, "finished", failure=StepFailure(f"could not put the outputs in place: {err}"),
                             at=finished, where=where)
        if notes:
            logging.getLogger(__name__).info("; ".join(notes))
        self._ran.add(name)
        result = StepResult({"variables": produced["variables"], "files": produced["files"]},
                            produced["metrics"], produced["changed_inputs"], produced["read"],
                            produced.get("checks", []))
        return StepEvent(name, "finished", result=result, at=finished, where=where,
                         timings=out.get("timings") or {})

    def _fetch(self, task: StepTask) -> None:
        """Bring the output notebook and the log from the store to the run folder."""
        storage = self.context.store.storage
        for path in (task.output_notebook, task.log):
            key = self._key(path)
            if storage.local_path(key) == path:
                continue
            try:
                storage.get_file(key, path)
            except (OSError, FileNotFoundError):
                pass

    def cancel(self, step: str) -> None:
        running = self._running.get(step)
        if running is None or self.client is None:
            return
        from distributed import Event

        Event(running.cancel_event, client=self.client).set()  # the task interrupts its kernel
        if not running.where:  # not started: it need not start
            self.client.cancel(running.future)

    def kill(self, step: str) -> None:
        running = self._running.pop(step, None)
        if running is not None and self.client is not None:
            self.client.cancel(running.future)  # the worker sees its task cancelled and kills the kernel

    def close(self, keep_scratch: bool = True) -> None:
        from cellpipe.engine.executors import daskstep

        for name in list(self._running):
            self.kill(name)
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        try:
            if client is not None:
                try:
                    client.run(daskstep.release, self.context.run_id)  # this run's idle kernels go
                except Exception:  # noqa: BLE001 - a worker that is gone took its kernels along
                    pass
                for topic in (self.topic, "all"):
                    client.unsubscribe_topic(topic)
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
