"""The local executor: each step a papermill notebook in a kernel of its own, on this machine.

Kernel start-up is the usual cost of a step, so :class:`KernelPool` starts
kernels ahead of need (and imports cellpipe's runtime and the serializers'
libraries in them) while other steps run; each step still gets a fresh kernel
that is shut down after it. On Linux the kernels are forked from a process that
has imported the pipeline's libraries (:mod:`.forkserver`).
"""

from __future__ import annotations

import os

os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")  # nbformat's default adds ~1 s per process

import contextlib  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import FIRST_COMPLETED, Future, wait  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from cellpipe.core.emit import step_notebook  # noqa: E402
from cellpipe.engine.executors.base import (  # noqa: E402
    CANCELLED,
    InputUnavailable,
    RunContext,
    StepEvent,
    StepFailure,
    StepResult,
    StepTask,
    failing_cell,
)
from cellpipe.engine.store import artifacts as artifacts_mod  # noqa: E402
from cellpipe.engine.timings import cell_phases  # noqa: E402
from cellpipe.runtime import RECORD  # noqa: E402

# papermill warns about annotated parameters (`x: int | None = None`) it cannot parse
logging.getLogger("papermill").setLevel(logging.ERROR)

#: run in each ordinary kernel of the pool before a step gets it, in a namespace of
#: its own (the step's stays as Run All's): import what every step imports, and watch
#: the run: when the process that started the kernel goes (killed with SIGKILL), the
#: kernel and whatever its step started go too (the kernel leads its process group)
WARMUP = """\
exec(compile(r'''
import os, signal, threading, time
try:
    import cellpipe.runtime, cellpipe.engine.serialize, cellpipe.core.rules, wrapt
    import numpy, pandas, pyarrow.ipc
except Exception:
    pass
def watch(parent=os.getppid()):
    while os.getppid() == parent:
        time.sleep(0.2)
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch, name="cellpipe-watch-run", daemon=True).start()
''', "<cellpipe warm-up>", "exec"), {})
"""


def warm_up(preload: tuple[str, ...] = ()) -> str:
    """:data:`WARMUP`, importing ``preload`` too (the pipeline's installed modules, as the
    fork server does: the modules a kernel must configure itself are left out)."""
    from cellpipe.engine.executors.forkserver import preloadable

    modules = [m for m in preload if preloadable(m) and m.replace(".", "").isidentifier()]
    if not modules:
        return WARMUP
    code = f"for m in {modules!r}:\n    try:\n        __import__(m)\n    except BaseException:\n        pass\n"
    return WARMUP + f"exec(compile({code!r}, '<cellpipe preload>', 'exec'), {{}})\n"


#: the longest path a Unix socket may have, with room to spare (sun_path: 108 bytes on Linux, 104 on macOS)
_SOCKET_PATH_MAX = 100


def _sockets() -> dict[str, str]:
    """Where a kernel listens: IPC sockets in a private folder on POSIX systems.

    With TCP, jupyter_client picks free ports by binding and releasing them;
    under load another kernel started at the same moment can take one before
    this kernel binds it, and the kernel dies at start-up ("Kernel died before
    replying to kernel_info"). A socket file named after a fresh id cannot
    collide. ``CELLPIPE_KERNEL_TRANSPORT=tcp`` keeps TCP."""
    if os.name != "posix" or os.environ.get("CELLPIPE_KERNEL_TRANSPORT", "ipc") == "tcp":
        return {}
    import tempfile
    import uuid

    folder = Path(tempfile.gettempdir()) / f"cellpipe-kernels-{os.getuid()}"
    if len(os.fsencode(folder)) > _SOCKET_PATH_MAX - 20:  # a socket's path is at most ~104 bytes
        folder = Path("/tmp") / f"cellpipe-kernels-{os.getuid()}"  # noqa: S108 - private (0700), checked below
        if not folder.parent.is_dir():
            return {}
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.stat()
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            return {}  # not ours alone: TCP on 127.0.0.1 rather than sockets others could reach
    except OSError:
        return {}
    _sweep_sockets(str(folder))
    return {"transport": "ipc", "ip": str(folder / uuid.uuid4().hex[:16])}


@lru_cache(maxsize=1)
def _sweep_sockets(folder: str) -> None:
    """Remove the socket files of kernels that are gone (a run killed with
    SIGKILL cannot clean up after its kernels): a socket nobody listens on
    refuses a connection. Once per process; files younger than a minute are
    left alone (a kernel may be binding them right now)."""
    import socket

    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < 60:
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.2)
                probe.connect(entry.path)
        except ConnectionRefusedError:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
        except OSError:
            continue


def _start_kernel(kernel_name: str, warm: bool, spec=None, preload: tuple[str, ...] = (), address: str = ""):
    from jupyter_client.manager import KernelManager

    if spec is not None:  # a kernel forked from cellpipe's fork server at ``address``
        from cellpipe.engine.executors._compat import fork_kernel_manager

        km = fork_kernel_manager(kernel_name, spec, address, **_sockets())
    else:
        km = KernelManager(kernel_name=kernel_name, **_sockets())
    # the kernel's own stderr only carries ipykernel's start-up chatter: the
    # step's output reaches the output notebook and the log through the client
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if spec is not None:
        return km  # the fork server answered once the kernel listened: the step's client does the handshake
    kc = km.client()
    kc.start_channels()
    try:
        import asyncio

        from cellpipe.engine.executors._compat import wait_ready

        asyncio.run(wait_ready(kc, 120))
        if warm:
            kc.execute_interactive(warm_up(preload), silent=True, store_history=False, timeout=120)
    except BaseException:
        kc.stop_channels()
        _shutdown(km)  # a half-started kernel is not left behind
        raise
    kc.stop_channels()
    return km


class KernelPool:
    """Keeps up to ``size`` started kernels ready; :meth:`take` hands one out.

    With a fork server (``server``), kernels are forked from it; once it is gone
    (killed, out of memory, never started) every kernel, those being started at
    that moment included, is an ordinary one, and the server's last words are
    reported once."""

    def __init__(self, kernel_name: str, size: int, warm: bool = True, spec=None, server=None,
                 preload: tuple[str, ...] = (), grow_to: int = 0, takes: int | None = None) -> None:
        self.kernel_name = kernel_name
        self.size = max(size, 0)
        #: the size the pool grows to while steps take kernels faster than they start
        #: (one more each time a step finds none ready): quick steps in a row
        self.grow_to = max(grow_to, self.size)
        #: how many kernels may still be taken at most (the run's steps not yet started), or
        #: None: no more are started ahead than that, so none is left starting when the run ends
        self.takes = takes
        self.warm = warm
        self.preload = preload  # modules warm ordinary kernels import ahead
        self.server = server  # a ForkServer, or None for ordinary kernels
        if spec is None and server is not None:
            from cellpipe.engine.executors.kernels import kernel_env

            spec = server.kernel_spec(kernel_env(kernel_name))
        self._spec = spec
        self._ready: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._starting = 0
        self._closed = False
        self._live: set[Any] = set()
        for _ in range(self.size):
            self._spawn(ahead=True)

    @property
    def spec(self):
        """The fork server's kernel spec while the server serves, else None."""
        if self._spec is not None and self.server is not None and not self.server.alive():
            self._fall_back("died")
        return self._spec

    def _fall_back(self, what: str) -> None:
        with self._lock:
            self._spec = None
        if self.server is not None:
            self.server.report(what)

    def _start(self, warm: bool):
        """A started kernel: forked while the server serves, else ordinary."""
        spec = self.spec
        if spec is None:
            return _start_kernel(self.kernel_name, warm, None, self.preload)
        try:
            return _start_kernel(self.kernel_name, warm, spec, address=self.server.address)
        except Exception as exc:  # noqa: BLE001 - the server is gone or broken: ordinary kernels
            self._fall_back(f"could not start a kernel ({exc})")
            return _start_kernel(self.kernel_name, warm, None, self.preload)

    def _spawn(self, ahead: bool = False) -> None:
        """Start a kernel; ``ahead`` of need only while fewer are ready or starting than
        the pool's size and the steps that may still take one."""
        with self._lock:
            if self._closed:
                return
            if ahead:
                target = self.size if self.takes is None else min(self.size, self.takes)
                if self._ready.qsize() + self._starting >= target:
                    return
            self._starting += 1

        def work() -> None:
            try:
                km = self._start(self.warm)
            except Exception as exc:  # noqa: BLE001 - handed to the taker, who reports it
                self._ready.put(exc)
            else:
                with self._lock:
                    closed = self._closed
                    if not closed:
                        self._live.add(km)
                if closed:
                    _shutdown(km)
                else:
                    self._ready.put(km)
            finally:
                with self._lock:
                    self._starting -= 1

        threading.Thread(target=work, name="cellpipe-kernel-start", daemon=True).start()

    def take(self):
        """A started kernel manager; a replacement starts at once."""
        if self.size == 0:
            return self._start(False)
        short = self._ready.empty()  # steps take kernels faster than they start
        with self._lock:
            if self.takes is not None:
                self.takes = max(self.takes - 1, 0)
        while True:  # never wait on a pool that has nothing on its way
            with self._lock:
                closed, starting = self._closed, self._starting
            if closed:
                raise RuntimeError("the kernel pool was closed while a step waited for a kernel")
            if starting == 0 and self._ready.empty():
                self._spawn()  # needed now, whatever the count says (a retried step)
            try:
                item = self._ready.get(timeout=1.0)
                break
            except queue.Empty:
                continue
        self._spawn(ahead=True)
        if short:
            with self._lock:
                grow = self.size < self.grow_to
                self.size += grow
            if grow:
                self._spawn(ahead=True)
        if isinstance(item, Exception):
            raise item
        with self._lock:
            self._live.discard(item)
        return item

    def close(self) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live)  # the ready kernels; those still starting are not in it
            self._live.clear()
        # the ready kernels all at once (each shutdown mostly waits for its process to go)
        stopping = [threading.Thread(target=_shutdown, args=(km,), name="cellpipe-kernel-stop", daemon=True)
                    for km in live]
        for thread in stopping:
            thread.start()
        # meanwhile let kernels being started finish starting (they shut themselves down):
        # interrupting a client mid-handshake makes noise at interpreter exit
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                if self._starting == 0:
                    break
            time.sleep(0.02)
        for thread in stopping:
            thread.join(max(deadline - time.monotonic(), 1.0))


def _shutdown(km) -> None:
    try:
        km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
        pass


def _signal(km, signum: int) -> None:
    """Signal a kernel that another thread is talking to, directly (the manager's
    own methods run on that thread's event loop): an interrupt to the kernel
    alone, SIGKILL to its process group (what the step's code started goes too)."""
    provisioner = getattr(km, "provisioner", None)
    pid = getattr(provisioner, "pid", None)
    if not pid:
        return
    pgid = getattr(provisioner, "pgid", None)
    try:
        if signum == signal.SIGKILL and pgid == pid:  # it leads its group (never the runner's own)
            os.killpg(pgid, signum)
        else:
            os.kill(pid, signum)
    except OSError:
        pass


class Execution:
    """One step running in a kernel taken from a pool; :meth:`cancel` kills it."""

    def __init__(self, pool: KernelPool) -> None:
        self.pool = pool
        self.km = None
        self.cancelled = False
        self.started = False  # it has its kernel: the step's code runs (its time limit counts from here)
        self.reported = False
        #: seconds per phase (:mod:`cellpipe.engine.timings`): kernel, and load/code/save from the cells
        self.timings: dict[str, float] = {}
        self.stopping: threading.Thread | None = None  # shutting its kernel down, once the step is over

    def run(self, notebook: dict[str, Any], output: Path, parameters: dict[str, Any], log: Path,
            kernel_name: str) -> None:
        from cellpipe.engine.executors._compat import ENGINE, load_papermill

        papermill = load_papermill()
        import nbformat
        from papermill.exceptions import PapermillExecutionError

        nb = nbformat.from_dict(notebook)
        taking = time.perf_counter()
        self.km = self.pool.take() if kernel_name == self.pool.kernel_name else None
        self.timings["kernel"] = time.perf_counter() - taking  # papermill starts any other kernel itself
        self.started = True
        if self.cancelled:
            if self.km is not None:
                _shutdown(self.km)
            raise StepFailure(CANCELLED)
        try:
            with open(log, "w", encoding="utf-8") as fh:
                kwargs: dict[str, Any] = {"km": self.km} if self.km is not None else {}
                executed = papermill.execute_notebook(
                    nb,
                    str(output),
                    parameters=parameters,
                    kernel_name=kernel_name,
                    progress_bar=False,
                    stdout_file=fh,
                    stderr_file=fh,
                    request_save_on_cell_execute=False,
                    engine_name=ENGINE,
                    **kwargs,
                )
        except PapermillExecutionError as exc:
            self._cell_timings(output)
            raise StepFailure(f"{exc.ename}: {exc.evalue}", exc.ename, exc.evalue, failing_cell(output)) from exc
        except Exception as exc:  # noqa: BLE001 - a dead kernel, a timeout: reported as the step's failure
            if self.cancelled:
                raise StepFailure(CANCELLED) from exc
            if type(exc).__name__ == "DeadKernelError":
                raise StepFailure(
                    "the step's kernel died while it ran (out of memory, or a crash in a native library); "
                    f"its output so far is in the output notebook and {log}",
                    "DeadKernelError", str(exc), failing_cell(output)) from exc
            raise StepFailure(f"{type(exc).__name__}: {exc}", type(exc).__name__, str(exc),
                              failing_cell(output)) from exc
        else:
            self._add(cell_phases(executed.cells))
        finally:
            if self.km is not None:
                # off the critical path: the step is finished once its notebook is written
                self.stopping = threading.Thread(target=_shutdown, args=(self.km,), name="cellpipe-kernel-stop",
                                                 daemon=True)
                self.stopping.start()

    def _cell_timings(self, output: Path) -> None:
        """The cells' phases of a step that failed, from its output notebook (when readable)."""
        import json

        try:
            cells = json.loads(output.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            return
        self._add(cell_phases(cells))

    def _add(self, phases: dict[str, float]) -> None:
        for phase, seconds in phases.items():
            self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    def cancel(self) -> None:
        """Interrupt the running cell (KeyboardInterrupt in the kernel): the
        client then finishes normally and the output notebook shows where."""
        self.cancelled = True
        if self.km is not None:
            _signal(self.km, signal.SIGINT)

    def kill(self) -> None:
        """For a kernel that ignored the interrupt."""
        self.cancelled = True
        if self.km is not None:
            _signal(self.km, signal.SIGKILL)


def fork_by_default() -> bool:
    """Fork kernels from a preloaded process: Linux, unless ``CELLPIPE_FORK=0``."""
    return sys.platform.startswith("linux") and os.environ.get("CELLPIPE_FORK", "1") != "0"


class LocalExecutor:
    """Steps on this machine, each in a fresh kernel taken from a :class:`KernelPool`.

    Inputs are linked from the object store into the run's ``artifacts`` folder,
    where the step's notebook reads them and writes its outputs; a finished
    step's outputs are moved into the object store when the runner polls (on
    the runner's thread: worker threads only run papermill).
    """

    name = "local"

    def __init__(self, warm_kernels: bool = True, fork_kernels: bool | None = None) -> None:
        self.warm_kernels = warm_kernels
        self.fork_kernels = fork_by_default() if fork_kernels is None else fork_kernels
        self.pool: KernelPool | None = None
        self.forks: Any = None  # a ForkServer once started
        self._running: dict[str, tuple[Future, Execution, StepTask]] = {}
        self._ran: set[str] = set()  # steps whose outputs this run's artifacts folder holds
        self._submitted = 0  # steps submitted so far (kernels taken, or about to be)
        self._stopping: list[threading.Thread] = []  # finished steps' kernels being shut down
        self._preparing: threading.Thread | None = None  # starting the pool ahead of the first step
        self._closing = False
        self._before: dict[str, dict[str, float]] = {}  # step -> seconds spent in submit: linking inputs, ...

    def open(self, context: RunContext) -> None:
        self.context = context
        self.artifacts = context.run_folder / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def submit(self, task: StepTask) -> None:
        ctx = self.context
        step = task.step
        linking = time.perf_counter()
        for producer in dict.fromkeys(v.producer for v in step.var_inputs):
            if producer in self._ran and (self.artifacts / producer / RECORD).exists():
                continue  # it ran in this run: its outputs are already there
            if not artifacts_mod.link_outputs(ctx.store, self.artifacts / producer, producer,
                                              task.inputs[producer]):
                # a corrupt object goes, so that the producer's next run stores it again
                for art in task.inputs[producer]["variables"].values():
                    if not ctx.store.objects.verify(art["hash"]):
                        ctx.store.objects.remove(art["hash"])
                raise InputUnavailable(producer)
        linked = time.perf_counter() - linking
        pool_start = 0.0
        if self.pool is None:
            self.pool = self._start_pool(task.kernel_name)
            pool_start = time.perf_counter() - linking - linked
        workdir = str((ctx.root / step.notebook).parent)
        # the step notebook's parameters cell holds this run's artifacts folder and the
        # workdir already: papermill injects (one more cell, one more round trip to the
        # kernel) only the values the user chose
        parameters = dict(task.parameters)
        notebook = step_notebook(ctx.pipeline, step, str(self.artifacts), workdir)
        self._submitted += 1
        execution = Execution(self.pool)
        # the pool's start (the first step's, the fork server's imports) counts as taking a kernel
        self._before[step.name] = {"load": linked, "kernel": pool_start}
        future = _in_thread(execution.run, notebook, task.output_notebook, parameters, task.log, task.kernel_name)
        self._running[step.name] = (future, execution, task)

    def prepare(self, kernel_name: str) -> None:
        """A step will run: start the fork server now (this thread: the server dies with
        it), and in the background wait for it, load papermill and fill the kernel pool,
        while the runner records the run and decides its first steps."""
        if self.pool is not None or self._preparing is not None:
            return
        self._start_forks(kernel_name)

        def work() -> None:
            from cellpipe.engine.executors._compat import load_papermill

            try:
                load_papermill()  # the first step's client needs it: imported while the server starts
                self.pool = self._make_pool(kernel_name)
            except Exception:  # noqa: BLE001 - the first step starts the pool again, and reports
                pass

        self._preparing = threading.Thread(target=work, name="cellpipe-prepare", daemon=True)
        self._preparing.start()

    def _start_pool(self, kernel_name: str) -> KernelPool:
        if self._preparing is not None:
            self._preparing.join()
            if self.pool is not None:
                return self.pool
        if self.forks is None:
            self._start_forks(kernel_name)
        return self._make_pool(kernel_name)

    def _start_forks(self, kernel_name: str) -> None:
        """Start the fork server (without waiting for it) where kernels may be forked."""
        if not self.fork_kernels:
            return
        from cellpipe.engine.executors.forkserver import ForkServer

        # started while the notebook's kernel spec is looked up (importing jupyter_client
        # takes a tenth of a second), and closed at once unless that kernel is this very
        # interpreter: only then are kernels forked
        server = ForkServer(str(self.context.store.folder), self.context.preload())
        from cellpipe.engine.executors.kernels import same_interpreter

        if same_interpreter(kernel_name):
            self.forks = server
        else:
            server.close()

    def _make_pool(self, kernel_name: str) -> KernelPool:
        """The kernel pool, once the fork server (if any) serves."""
        if self.forks is not None and not self.forks.wait(report=not self._closing):
            self.forks.close()
            self.forks = None
        if self._closing:
            raise RuntimeError("the run ended while its kernel pool started")
        # a few more ready kernels than parallel steps: a quick chain of steps
        # takes kernels faster than one start at a time can make them
        size = (self.context.jobs + 2) if self.warm_kernels else 0
        return KernelPool(kernel_name, size, warm=self.warm_kernels, server=self.forks,
                          grow_to=size + 4 if self.warm_kernels else 0,
                          takes=len(self.context.pipeline.steps) - self._submitted)

    def poll(self, timeout: float) -> list[StepEvent]:
        if not self._running:
            return []
        done, _ = wait([f for f, _, _ in self._running.values()], timeout=timeout, return_when=FIRST_COMPLETED)
        events = []
        for name, (future, execution, task) in list(self._running.items()):
            if future in done:
                del self._running[name]
                events.append(self._collect(future, execution, task))
                self._stopping = [t for t in self._stopping if t.is_alive()]
                if execution.stopping is not None:
                    self._stopping.append(execution.stopping)
            elif execution.started and not execution.reported:
                execution.reported = True
                events.append(StepEvent(name, "running"))
        return events

    def _collect(self, future: Future, execution: Execution, task: StepTask) -> StepEvent:
        step = task.step
        timings = dict(execution.timings)
        for phase, seconds in self._before.pop(step.name, {}).items():
            timings[phase] = timings.get(phase, 0.0) + seconds
        exc = future.exception()
        if exc is None:
            ingesting = time.perf_counter()
            try:
                produced = artifacts_mod.ingest(self.context.store, self.context.root, step,
                                                self.artifacts / step.name)
            except (OSError, ValueError, KeyError) as err:
                exc = StepFailure(f"could not store the outputs: {err}")
            else:
                self._ran.add(step.name)
                timings["save"] = timings.get("save", 0.0) + time.perf_counter() - ingesting
                result = StepResult({"variables": produced["variables"], "files": produced["files"]},
                                    produced["metrics"], produced["changed_inputs"], produced["read"],
                                    produced.get("checks", []))
                return StepEvent(step.name, "finished", result=result, at=time.time(), timings=timings)
        failure = exc if isinstance(exc, StepFailure) else StepFailure(f"{type(exc).__name__}: {exc}")
        return StepEvent(step.name, "finished", failure=failure, at=time.time(), timings=timings)

    def cancel(self, step: str) -> None:
        if step in self._running:
            self._running[step][1].cancel()

    def kill(self, step: str) -> None:
        entry = self._running.pop(step, None)
        if entry is not None:
            entry[1].kill()  # the daemon thread waiting on it is left behind

    def close(self, keep_scratch: bool = True) -> None:
        self._closing = True
        for name in list(self._running):
            self.kill(name)
        if self._preparing is not None and self._preparing.is_alive():
            if self.forks is not None:
                self.forks.close()  # a server still starting: its wait ends at once
            self._preparing.join()
        if self.pool is not None:
            self.pool.close()
        # the last steps' kernels go before the server (and before the process exits: an
        # open kernel socket holds the exit up for its linger time)
        deadline = time.monotonic() + 5
        for thread in self._stopping:
            thread.join(max(deadline - time.monotonic(), 0.0))
        if self.forks is not None:
            self.forks.close()
        if not keep_scratch:  # every output is in the object store now
            shutil.rmtree(self.artifacts, ignore_errors=True)


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
