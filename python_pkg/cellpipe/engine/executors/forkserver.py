"""Kernels forked from a process that has already imported the pipeline's libraries.

Starting a Python kernel and importing pandas or scikit-learn in it costs a
second or more per step. The fork server imports ipykernel, cellpipe's runtime
and the libraries the pipeline's code imports once; each step's kernel is then
a ``fork()`` of it, so a step's own ``import pandas`` finds the module loaded.
Every step still runs in a process of its own that no other step's code ran in:
the server never runs user code.

A forked kernel must behave as an ordinary kernel would. What the server
changed in its own process is put back in the child (signal dispositions and
mask, environment, working directory, ``sys.argv`` and ``sys.path[0]``,
descriptors, standard streams: those jupyter_client chose are passed over the socket),
and what libraries decided at import time because no kernel existed yet is
decided again once the kernel exists (:data:`AFTER_START`).

The pieces:

* the server (``python -m cellpipe.engine.executors.forkserver ADDRESS PARENT MODULE...``)
  listens on a Linux abstract socket (no path, so no length limit; a short
  private temporary folder elsewhere); for each request from a process of its
  own user it forks a kernel and answers with its pid. It goes, taking its
  kernels along, when the process that started it goes;
* :func:`request_kernel` asks it for a kernel: jupyter_client's kernel manager
  does so through a kernel provisioner of cellpipe's
  (:class:`cellpipe.engine.executors._compat.ForkProvisioner`) instead of starting
  a process, and signals, polls and kills the kernel's process as it would its own.
  A kernel whose requesting process dies (a run killed with SIGKILL) ends too,
  with whatever its step started.

Modules that must not be imported before a kernel configures them (plotting
backends, progress bars that pick a front end) or that are not fork-safe (GPU
frameworks) are never preloaded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable

log = logging.getLogger("cellpipe")

#: never imported ahead: plotting backends are chosen by the kernel, and GPU or
#: thread-pool runtimes are not safe to fork after initialising
NO_PRELOAD = (
    "matplotlib", "seaborn", "plotly", "bokeh", "altair", "pylab", "torch", "tensorflow", "jax", "keras",
    "cupy", "ray", "dask", "distributed", "multiprocessing", "tkinter", "PyQt5", "PySide6", "wx", "pygame",
    "IPython", "ipywidgets", "cellpipe",
)
#: modules that choose their behaviour at import by looking for a kernel
NO_PRELOAD_MODULES = ("tqdm.auto", "tqdm.autonotebook", "tqdm.notebook")
#: imported by every kernel as it starts or runs a step's first cells (measured: the
#: modules a forked kernel of ipykernel 7 / IPython 9 added to ``sys.modules``)
KERNEL_MODULES = (
    "ipykernel_launcher", "IPython.core.debugger", "IPython.core.oinspect", "IPython.core.completerlib",
    "IPython.core.logger", "IPython.extensions.storemagic", "IPython.utils.wildcard",
    "tornado.platform.asyncio", "cloudpickle", "xxhash", "faulthandler",
)
#: how much of the server's stderr a failure report quotes
STDERR_TAIL = 4000


def preloadable(module: str) -> bool:
    root = module.split(".")[0]
    return (bool(module) and root not in NO_PRELOAD and not module.startswith("_")
            and not any(module == m or module.startswith(m + ".") for m in NO_PRELOAD_MODULES))


# -- addresses -------------------------------------------------------------------


def new_address() -> tuple[str, str | None]:
    """A fresh server address and the private folder holding it (None for an
    abstract socket). ``@name`` is a Linux abstract socket."""
    if sys.platform.startswith("linux"):
        return f"@cellpipe-fork-{os.getpid()}-{secrets.token_hex(8)}", None
    folder = tempfile.mkdtemp(prefix="cp-")  # short (under /tmp) and private (mode 0700)
    return os.path.join(folder, "s"), folder


def socket_address(address: str) -> str:
    """The address as ``socket.bind``/``connect`` take it."""
    return "\0" + address[1:] if address.startswith("@") else address


# -- in the server -------------------------------------------------------------


class _Original:
    """What the server's process was like before it changed anything: a forked
    kernel is put back in this state."""

    def __init__(self) -> None:
        self.handlers: dict[int, object] = {}
        for signum in signal.valid_signals():
            if signum in (signal.SIGKILL, signal.SIGSTOP):
                continue
            try:
                self.handlers[signum] = signal.getsignal(signum)
            except (OSError, ValueError):
                continue
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, []) if hasattr(signal, "pthread_sigmask") else set()
        self.fds = _open_fds()

    def restore_signals(self) -> None:
        for signum, handler in self.handlers.items():
            if handler is None:  # set from C: leave it
                continue
            try:
                signal.signal(signum, handler)  # type: ignore[arg-type]
            except (OSError, ValueError):
                pass
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)


def _open_fds() -> set[int]:
    try:
        listed = {int(n) for n in os.listdir("/proc/self/fd")}
    except OSError:
        return {0, 1, 2}
    found = set()
    for fd in listed:  # without the descriptor that listed the folder
        try:
            os.fstat(fd)
        except OSError:
            continue
        found.add(fd)
    return found


class _Server:
    def __init__(self, parent: int) -> None:
        self.parent = parent
        self.kernels: set[int] = set()
        self.lock = threading.Lock()

    def reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.kernels.discard(pid)

    def die(self, *_args: object) -> None:
        """The run is gone: so are its kernels (each leads a process group of its own)."""
        for pid in list(self.kernels):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(1)

    def watch_parent(self) -> None:
        while True:
            if os.getppid() != self.parent:
                self.die()
            time.sleep(0.2)


def _peer(conn: socket.socket) -> tuple[int, int] | None:
    """The pid and uid of the process at the other end, where the system says (Linux)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    return pid, uid


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds = b"", []
    while not data.endswith(b"\n"):
        chunk, got, _flags, _addr = socket.recv_fds(conn, 1 << 20, 8)
        fds += got
        if not chunk:
            break
        data += chunk
    return (json.loads(data) if data.strip() else {}), fds


def _warm_caches() -> None:
    """Fill, once here, the caches every kernel fills as it starts and runs its first
    cells: compiled regular expressions (the tokenizer's, IPython's input transformers'
    and completer's, the command-line parser's). Library code only: no step's code
    runs here, and a kernel would compute the same values."""
    import argparse
    import io
    import tokenize

    source = 'x = """1""" + f"{x}"  # .\n%time y = 1\n'
    try:
        list(tokenize.generate_tokens(io.StringIO(source).readline))
        from IPython.core import completer
        from IPython.core.inputtransformer2 import TransformerManager

        TransformerManager().transform_cell(source)
        completer.CompletionSplitter()
        argparse.ArgumentParser(prog="x").format_usage()
    except Exception:  # noqa: BLE001 - another version of these libraries: the kernels fill their own
        pass


def serve(address: str, parent: int, modules: list[str]) -> None:
    # as ipykernel_launcher does: the working folder is not on the path (here it is
    # the store, and preloading must never import from it)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    original = _Original()
    server_state = _Server(parent)
    # the run goes (SIGKILL included): this process and its kernels go with it
    from cellpipe.engine.executors.procs import die_with_parent

    signal.signal(signal.SIGTERM, server_state.die)
    if os.environ.pop("CELLPIPE_FORK_PDEATHSIG", "") == "1":
        die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:
        return
    threading.Thread(target=server_state.watch_parent, daemon=True).start()

    # every kernel resolves its debugger class (importing debugpy) while it initialises:
    # a third of a forked kernel's start-up, done once here instead. Its import-time
    # warning about frozen modules goes where an ordinary kernel's goes: nowhere
    import io

    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401 - the point is to import it once, here

    with contextlib.redirect_stderr(io.StringIO()):
        try:
            import ipykernel.debugger  # noqa: F401
        except Exception:  # noqa: BLE001 - the kernel imports it again, and copes as ipykernel does
            pass
    import wrapt  # noqa: F401 - the file tracker's, imported once here rather than in every step

    import cellpipe.core.rules  # noqa: F401
    import cellpipe.engine.serialize  # noqa: F401
    import cellpipe.runtime  # noqa: F401

    # what every kernel imports while it starts or runs its first cell, whatever the
    # step's code: the shell's debugger, inspector and stored-variables extension,
    # tornado's event loop, and what the step's load and save cells use
    for module in KERNEL_MODULES:
        try:
            __import__(module)
        except Exception:  # noqa: BLE001 - another version of these libraries: the kernel imports its own
            pass

    for module in modules:
        if preloadable(module):
            try:
                __import__(module)
            except BaseException:  # noqa: BLE001 - a module that fails here fails in the step, where it is reported
                pass
    _warm_caches()
    # every object made so far stays as it is in the kernels: out of the collector's
    # sight, so that a kernel's collections neither walk them nor write to (and so copy)
    # the memory pages they share with this process
    import gc

    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, lambda *_: server_state.reap())
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_address(address))
    server.listen(64)
    print("ready", flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except InterruptedError:
            continue
        with conn:
            peer = _peer(conn)
            if peer is not None and peer[1] != os.getuid():
                continue  # an abstract socket is visible to every user: serve only our own
            request, fds = _receive(conn)
            if peer is not None:  # the process that asks, as the system knows it
                request["requester"] = peer[0]
            if not request or request.get("stop"):
                for fd in fds:
                    os.close(fd)
                if request.get("stop"):
                    return
                continue
            pid = os.fork()
            if pid == 0:
                try:
                    server.close()
                    _child(request, fds, original, conn)
                finally:
                    os._exit(0)
            server_state.kernels.add(pid)
            for fd in fds:
                os.close(fd)
            # the kernel answers on this connection itself, once it listens (or the
            # connection closes unanswered: it died starting)


# -- in a forked kernel --------------------------------------------------------------


def _reset_process(request: dict, fds: list[int], original: _Original, answer: int) -> None:
    """Undo, in the child, what the server changed in its process (``answer``: the
    descriptor of the connection the kernel answers on, closed once it has)."""
    os.setsid()
    original.restore_signals()
    # the stdin, stdout and stderr jupyter_client chose for the kernel
    for target, fd in zip((0, 1, 2), fds, strict=False):
        os.dup2(fd, target)
    keep = {0, 1, 2}
    # descriptors the server had from its parent or made itself (its socket, the
    # pipes to the runner); those opened by preloaded libraries stay theirs
    for fd in (original.fds | set(fds)) - keep - {answer}:
        try:
            os.close(fd)
        except OSError:
            pass
    os.environ.clear()
    os.environ.update(request.get("env") or {})
    cwd = request.get("cwd") or os.getcwd()
    os.chdir(cwd)
    # as ``python -m ipykernel_launcher -f FILE`` started in ``cwd`` would have them
    import ipykernel_launcher

    sys.argv = [ipykernel_launcher.__file__, "-f", request["connection_file"]]
    # fresh randomness: a fork would otherwise hand every kernel the same streams
    import random

    random.seed()
    if "numpy" in sys.modules:
        try:
            sys.modules["numpy"].random.seed()
        except Exception:  # noqa: BLE001 - an unusual numpy: leave its state alone
            pass


def _pandas_display(shell) -> None:
    """pandas sets ``display.max_columns`` at import: 0 outside a kernel (fit the
    terminal), 20 inside one. Imported in the server, it chose 0."""
    config_init = sys.modules.get("pandas.core.config_init")
    if config_init is None:
        return
    from pandas._config import config as cf

    with shell.builtin_trap:  # get_ipython() as a cell sees it
        value = 0 if config_init.is_terminal() else 20
    key = "display.max_columns"
    registered = cf._registered_options.get(key)
    if registered is not None and registered.defval != value:
        cf._registered_options[key] = registered._replace(defval=value)
        cf.set_option(key, value)


#: what libraries decide at import by looking for a kernel, decided again once it exists
AFTER_START: list[Callable[[object], None]] = [_pandas_display]


def _watch_requester(requester: int) -> None:
    while True:
        time.sleep(0.2)
        try:
            os.kill(requester, 0)
        except ProcessLookupError:
            # the process that asked for this kernel is gone (a run killed with SIGKILL):
            # so is this kernel, and whatever the step's code started in its process group
            os.killpg(0, signal.SIGKILL)
        except PermissionError:
            pass


def _child(request: dict, fds: list[int], original: _Original, conn: socket.socket) -> None:
    """In the forked process: become the kernel described by ``request``, and say so
    on ``conn`` (its pid) once it listens on its sockets, or why it could not."""
    _reset_process(request, fds, original, conn.fileno())
    threading.Thread(target=_watch_requester, args=(int(request["requester"]),), daemon=True).start()
    from ipykernel.kernelapp import IPKernelApp

    try:
        app = IPKernelApp.instance()
        # no history database: parallel step kernels would contend for its lock, and
        # a pipeline step has no use for input history across sessions
        app.initialize(["-f", request["connection_file"], "--HistoryManager.enabled=False"])
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
        raise
    for fix in AFTER_START:
        try:
            fix(app.shell)
        except Exception:  # noqa: BLE001 - a library version we do not know: leave it
            pass
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    conn.close()
    app.start()


# -- in the runner ---------------------------------------------------------------


def request_kernel(address: str, connection_file: str, env: dict[str, str], cwd: str,
                   streams: tuple[int, int, int], timeout: float = 120) -> int:
    """Ask the server at ``address`` for a kernel bound to ``connection_file``, with this
    environment, working folder and standard streams (descriptors, passed over the
    socket); its pid, once it listens on its sockets. The kernel ends when the
    calling process does."""
    request = {"connection_file": os.path.abspath(connection_file), "env": env, "cwd": cwd,
               "requester": os.getpid()}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_address(address))
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], list(streams))
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.strip():
        raise RuntimeError("cellpipe's fork server gave no kernel (it refused the request, or the kernel died "
                           "starting)")
    answer = json.loads(data)
    if "error" in answer:
        raise RuntimeError(f"a kernel forked by cellpipe's fork server could not start: {answer['error']}")
    return int(answer["pid"])


class ForkServer:
    """Starts the server process; :meth:`close` stops it and every kernel it made."""

    def __init__(self, folder: str, modules: list[str]) -> None:
        import subprocess

        self.address, self._folder = new_address()
        env = dict(os.environ)
        # the parent-death signal follows the thread that starts the process: only
        # a main thread lives as long as its process
        if threading.current_thread() is threading.main_thread():
            env["CELLPIPE_FORK_PDEATHSIG"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cellpipe.engine.executors.forkserver", self.address, str(os.getpid()),
             *sorted(set(modules))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, env=env,
            # in the store, where no user module lives: preloading must never import the
            # project's own code (each kernel changes into its notebook's folder itself)
            cwd=folder,
        )
        self._stderr: list[str] = []
        self._ready = threading.Event()
        self._reported = False
        threading.Thread(target=self._wait_ready, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _wait_ready(self) -> None:
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self._ready.set()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)
            while sum(map(len, self._stderr)) > STDERR_TAIL and len(self._stderr) > 1:
                self._stderr.pop(0)

    def wait(self, timeout: float = 120, report: bool = True) -> bool:
        """Whether the server serves, once it is ready (``report``: say on the log when not)."""
        ok = self._ready.wait(timeout) and self.alive()
        if not ok and report:
            self.report("did not start")
        return ok

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        if self.proc.poll() is not None:
            time.sleep(0.05)  # the reader thread's last lines
        return "".join(self._stderr)[-STDERR_TAIL:].strip()

    def report(self, what: str) -> None:
        """Say once, on the log, why fork kernels stopped being used."""
        if self._reported:
            return
        self._reported = True
        code = self.proc.poll()
        status = "still running" if code is None else f"exit code {code}"
        log.warning("cellpipe: the fork server %s (%s); steps use ordinary kernels from now on%s", what, status,
                    (":\n" + self.stderr()) if self.stderr() else "")

    def kernel_spec(self, env: dict[str, str] | None = None):
        """The spec of the kernels this server forks: what their command line would be
        (:class:`~cellpipe.engine.executors._compat.ForkProvisioner` forks them instead);
        ``env``: the variables the notebook's own kernel spec sets."""
        from jupyter_client.kernelspec import KernelSpec

        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (cellpipe)", language="python", interrupt_mode="signal", env=env or {},
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # it kills its kernels, then itself
                self.proc.wait(5)
            except (OSError, Exception):  # noqa: BLE001 - then by force
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        if self._folder is not None:
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
