"""Kernels forked from a process that has already imported the pipeline's libraries.

Starting a Python kernel and importing pandas or scikit-learn in it costs a
second or more per step. The fork server imports ipykernel, cellpipe's runtime
and the libraries the pipeline's code imports once; each step's kernel is then
a ``fork()`` of it, so a step's own ``import pandas`` finds the module loaded.
Every step still runs in a process of its own that no other step's code ran in:
the server never runs user code.

The pieces:

* the server (``python -m cellpipe.engine.executors.forkserver SOCKET MODULE...``)
  listens on a Unix socket; for each request it forks a kernel and answers with
  its pid;
* the launcher (:mod:`cellpipe.engine.executors.forklaunch`) is what jupyter_client
  starts as "the kernel": it asks the server for a kernel, forwards signals to
  it (interrupt, terminate) and exits when it ends; a kernel whose launcher
  dies (SIGKILL) ends too.

Modules that must not be imported before a kernel configures them (plotting
backends) or that are not fork-safe (GPU frameworks) are never preloaded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time

#: never imported ahead: plotting backends are chosen by the kernel, and GPU or
#: thread-pool runtimes are not safe to fork after initialising
NO_PRELOAD = (
    "matplotlib", "seaborn", "plotly", "bokeh", "altair", "pylab", "torch", "tensorflow", "jax", "keras",
    "cupy", "ray", "dask", "distributed", "multiprocessing", "tkinter", "PyQt5", "PySide6", "wx", "pygame",
    "IPython", "ipywidgets", "cellpipe",
)


def preloadable(module: str) -> bool:
    root = module.split(".")[0]
    return bool(module) and root not in NO_PRELOAD and not module.startswith("_")


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _watch_launcher(launcher: int) -> None:
    while True:
        time.sleep(0.2)
        try:
            os.kill(launcher, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def _child(request: dict) -> None:
    """In the forked process: become the kernel described by ``request``."""
    os.setsid()
    for key, value in (request.get("env") or {}).items():
        os.environ[key] = value
    if request.get("cwd"):
        os.chdir(request["cwd"])
    # fresh randomness: a fork would otherwise hand every kernel the same streams
    import random

    random.seed()
    if "numpy" in sys.modules:
        try:
            sys.modules["numpy"].random.seed()
        except Exception:  # noqa: BLE001 - an unusual numpy: leave its state alone
            pass
    threading.Thread(target=_watch_launcher, args=(int(request["launcher"]),), daemon=True).start()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    # no history database: parallel step kernels would contend for its lock, and
    # a pipeline step has no use for input history across sessions
    app.initialize(["-f", request["connection_file"], "--HistoryManager.enabled=False"])
    app.start()


def serve(path: str, modules: list[str]) -> None:
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401 - the point is to import it once, here

    import cellpipe.engine.serialize  # noqa: F401
    import cellpipe.runtime  # noqa: F401

    for module in modules:
        if preloadable(module):
            try:
                __import__(module)
            except BaseException:  # noqa: BLE001 - a module that fails here fails in the step, where it is reported
                pass
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    print("ready", flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except InterruptedError:
            continue
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if not data.strip():
                continue
            request = json.loads(data)
            if request.get("stop"):
                return
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.close()
                try:
                    _child(request)
                finally:
                    os._exit(0)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")


class ForkServer:
    """Starts the server process; :meth:`close` stops it and every kernel it made."""

    def __init__(self, folder: str, modules: list[str]) -> None:
        import subprocess

        self.path = os.path.join(folder, f"forkserver-{os.getpid()}.sock")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cellpipe.engine.executors.forkserver", self.path, *sorted(set(modules))],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
            # in the store, where no user module lives: preloading must never import the
            # project's own code (each kernel changes into its notebook's folder itself)
            cwd=folder,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._wait_ready, daemon=True).start()

    def _wait_ready(self) -> None:
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self._ready.set()

    def wait(self, timeout: float = 120) -> bool:
        return self._ready.wait(timeout) and self.proc.poll() is None

    def kernel_spec(self):
        """A kernel spec whose "kernel" is the launcher talking to this server."""
        from jupyter_client.kernelspec import KernelSpec

        launcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forklaunch.py")
        return KernelSpec(
            # -S -I: the launcher needs only the standard library, and starts faster without site
            argv=[sys.executable, "-S", "-I", launcher, self.path, "{connection_file}"],
            display_name="Python 3 (cellpipe)", language="python", interrupt_mode="signal",
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
