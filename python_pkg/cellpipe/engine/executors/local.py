"""Run one compiled step with papermill, in a kernel of its own, on this machine.

Kernel start-up is the usual cost of a step, so :class:`KernelPool` starts
kernels ahead of need (and imports cellpipe's runtime and the serializers'
libraries in them) while other steps run; each step still gets a fresh kernel
that is shut down after it.
"""

from __future__ import annotations

import os

os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")  # nbformat's default adds ~1 s per process

import logging  # noqa: E402
import queue  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# papermill warns about annotated parameters (`x: int | None = None`) it cannot parse
logging.getLogger("papermill").setLevel(logging.ERROR)

WARMUP = """\
import cellpipe.runtime, cellpipe.engine.serialize
try:
    import numpy, pandas, pyarrow.parquet
except Exception:
    pass
"""


def _start_kernel(kernel_name: str, warm: bool, spec=None):
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=kernel_name)
    if spec is not None:  # a kernel forked from cellpipe's fork server
        km._kernel_spec = spec
    # the kernel's own stderr only carries ipykernel's start-up chatter: the
    # step's output reaches the output notebook and the log through the client
    km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    try:
        import asyncio

        from cellpipe.engine.executors.engine import _wait_ready

        asyncio.run(_wait_ready(kc, 120))
        if warm and spec is None:
            kc.execute_interactive(WARMUP, silent=True, store_history=False, timeout=120)
    finally:
        kc.stop_channels()
    return km


class KernelPool:
    """Keeps up to ``size`` started kernels ready; :meth:`take` hands one out."""

    def __init__(self, kernel_name: str, size: int, warm: bool = True, spec=None) -> None:
        self.kernel_name = kernel_name
        self.size = max(size, 0)
        self.warm = warm
        self.spec = spec  # a fork server's kernel spec, or None for ordinary kernels
        self._ready: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._starting = 0
        self._closed = False
        self._live: set[Any] = set()
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._starting += 1

        def work() -> None:
            try:
                try:
                    km = _start_kernel(self.kernel_name, self.warm, self.spec)
                except Exception:
                    if self.spec is None:
                        raise
                    # the fork server is gone (killed, out of memory): ordinary kernels from now on
                    self.spec = None
                    km = _start_kernel(self.kernel_name, self.warm, None)
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
            return _start_kernel(self.kernel_name, False, self.spec)
        item = self._ready.get()
        self._spawn()
        if isinstance(item, Exception):
            raise item
        with self._lock:
            self._live.discard(item)
        return item

    def close(self) -> None:
        with self._lock:
            self._closed = True
        # let kernels being started finish starting (they shut themselves down):
        # interrupting a client mid-handshake makes noise at interpreter exit
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                if self._starting == 0:
                    break
            time.sleep(0.05)
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for km in live:
            _shutdown(km)


def _shutdown(km) -> None:
    try:
        km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - a kernel that is already gone is fine
        pass


def _signal(km, signum: int) -> None:
    """Signal a kernel that another thread is talking to, directly (the manager's
    own methods run on that thread's event loop). A fork-server kernel's
    launcher forwards the signal and dies with SIGKILL, taking the kernel along."""
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if pid:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


@dataclass
class StepFailure(Exception):
    """A step's notebook raised; ``cell`` is the failing cell of the output notebook."""

    message: str
    ename: str = ""
    evalue: str = ""
    cell: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


def failing_cell(output_notebook: Path) -> dict[str, Any] | None:
    """The first code cell of an executed notebook whose outputs hold an error."""
    import json

    try:
        nb = json.loads(output_notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                return cell
    return None


class Execution:
    """One step running in a kernel taken from a pool; :meth:`cancel` kills it."""

    def __init__(self, pool: KernelPool) -> None:
        self.pool = pool
        self.km = None
        self.cancelled = False

    def run(self, notebook: dict[str, Any], output: Path, parameters: dict[str, Any], log: Path,
            kernel_name: str) -> None:
        from cellpipe.engine.executors import load_papermill

        papermill = load_papermill()
        import nbformat
        from papermill.exceptions import PapermillExecutionError

        from cellpipe.engine.executors.engine import ENGINE

        nb = nbformat.from_dict(notebook)
        self.km = self.pool.take() if kernel_name == self.pool.kernel_name else None
        if self.cancelled:
            if self.km is not None:
                _shutdown(self.km)
            raise StepFailure("cancelled")
        try:
            with open(log, "w", encoding="utf-8") as fh:
                kwargs: dict[str, Any] = {"km": self.km} if self.km is not None else {}
                papermill.execute_notebook(
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
            raise StepFailure(f"{exc.ename}: {exc.evalue}", exc.ename, exc.evalue, failing_cell(output)) from exc
        except Exception as exc:  # noqa: BLE001 - a dead kernel, a timeout: reported as the step's failure
            if self.cancelled:
                raise StepFailure("cancelled") from exc
            if type(exc).__name__ == "DeadKernelError":
                raise StepFailure(
                    "the step's kernel died while it ran (out of memory, or a crash in a native library); "
                    f"its output so far is in the output notebook and {log}",
                    "DeadKernelError", str(exc), failing_cell(output)) from exc
            raise StepFailure(f"{type(exc).__name__}: {exc}", type(exc).__name__, str(exc),
                              failing_cell(output)) from exc
        finally:
            if self.km is not None:
                # off the critical path: the step is finished once its notebook is written
                threading.Thread(target=_shutdown, args=(self.km,), daemon=True).start()

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
