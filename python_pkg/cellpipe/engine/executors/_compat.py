"""Every use of papermill's, nbclient's and jupyter_client's internals, in one place.

Each piece says why it is here and what it relies on. When one of these
libraries changes, this module (and the upper bounds in ``pyproject.toml``) is
what to check; nothing else in cellpipe reaches past their public API.

* :func:`load_papermill`: imports papermill without two optional extras it drags in.
* :func:`wait_ready`: a kernel handshake without nbclient's fixed 0.2 s IOPub drain
  (uses ``KernelClient._handle_kernel_info_reply``).
* :class:`CellpipeEngine`: a papermill engine whose client uses that handshake
  (a copy of ``NBClientEngine.execute_managed_notebook``; overrides nbclient's
  ``async_start_new_kernel_client``).
* :func:`fixed_spec_manager`: hands a kernel spec to ``KernelManager`` through its
  public ``kernel_spec_manager``.
* :class:`ForkProvisioner` / :func:`fork_kernel_manager`: a kernel provisioner
  (``jupyter_client.provisioning``: a public extension point, but a module this
  project counts as internal) that forks the kernel from cellpipe's fork server
  instead of starting a process. It is set on the manager before the kernel starts:
  ``KernelManager`` keeps a provisioner it already has (the one it kept for a restart).
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty
from typing import Any

# -- a lean papermill ------------------------------------------------------------
#: optional imports of papermill and nbformat the runner never uses, and what
#: they cost it: pyarrow (papermill's HDFS support) pulls in numpy, ~80 MB; the
#: URI-syntax checker of jsonschema's format checking (nbformat imports
#: jsonschema) compiles a grammar, ~0.7 s. Both are optional to those packages,
#: which import them inside ``try: ... except ImportError``: a meta-path finder
#: that refuses them while papermill loads is the only switch there is.
_SKIPPED = ("pyarrow", "rfc3987_syntax")


class _Skip(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".")[0] in _SKIPPED:
            raise ImportError(f"{name} is not loaded in cellpipe's runner")
        return None


@contextmanager
def _without_optional_extras() -> Iterator[None]:
    finder = _Skip()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def load_papermill() -> Any:
    """Import papermill for the runner process, lean (see ``_SKIPPED``)."""
    os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")
    if "papermill" in sys.modules:
        return sys.modules["papermill"]
    with _without_optional_extras():
        import nbformat  # noqa: F401
        import papermill
        import papermill.engines  # noqa: F401
    return papermill


load_papermill()  # before any papermill module: keeps the runner lean

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402
from jupyter_core.utils import ensure_async, run_sync  # noqa: E402
from papermill.clientwrap import PapermillNotebookClient  # noqa: E402
from papermill.engines import NBClientEngine, papermill_engines  # noqa: E402
from papermill.utils import merge_kwargs, remove_args  # noqa: E402

ENGINE = "cellpipe"


# -- a quick kernel handshake ------------------------------------------------------
async def wait_ready(kc: Any, timeout: float) -> None:
    """Wait until the kernel answers ``kernel_info`` and IOPub is connected.

    nbclient's start-up drains IOPub until it has been quiet for 0.2 s, a fifth
    of a second per step. Here the client instead waits for the ``idle`` status
    that answers its own ``kernel_info`` request, which proves IOPub is
    connected and leaves nothing to drain. Private: ``_handle_kernel_info_reply``
    is what jupyter_client's own ``wait_for_ready`` calls to record the kernel's
    protocol version and language info on the client; there is no public setter.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg_id = kc.kernel_info()
        try:
            reply = await ensure_async(kc.shell_channel.get_msg(timeout=1))
        except Empty:
            if not await ensure_async(kc.is_alive()):
                raise RuntimeError("Kernel died before replying to kernel_info") from None
            continue
        if reply["msg_type"] != "kernel_info_reply":
            continue
        settle = time.monotonic() + 0.5
        while time.monotonic() < settle:
            try:
                msg = await ensure_async(kc.iopub_channel.get_msg(timeout=0.05))
            except Empty:
                continue
            if (
                msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
                and msg["parent_header"].get("msg_id") == msg_id
            ):
                kc._handle_kernel_info_reply(reply)
                return
        # IOPub was not connected yet when the kernel answered: ask again
    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


# -- a papermill engine with that handshake ------------------------------------------
class _Client(PapermillNotebookClient):
    """Overrides nbclient's ``async_start_new_kernel_client`` (public name, but an
    internal step of ``NotebookClient.execute``; no hook exists to change the
    handshake): a client of the already started kernel, readied by :func:`wait_ready`."""

    async def async_start_new_kernel_client(self) -> Any:
        assert self.km is not None
        try:
            # an asynchronous client, whatever the manager: a blocking one would block
            # the event loop while it waits for output, so that nbclient's check that
            # the kernel is alive never runs and a kernel that dies hangs the step
            from jupyter_client.asynchronous import AsyncKernelClient

            info = self.km.get_connection_info(session=True)
            self.kc = AsyncKernelClient(**info, connection_file=self.km.connection_file, parent=self.km)
            self.kc.start_channels()  # synchronous: it only opens the sockets
            await wait_ready(self.kc, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()  # nbclient's own clean-up (private) on a failed start
            raise
        self.kc.allow_stdin = False
        return self.kc

    # nbclient binds the sync wrapper to its own coroutine at class creation
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


class CellpipeEngine(NBClientEngine):
    """NBClientEngine with the quicker kernel client start-up.

    ``execute_managed_notebook`` is papermill's own (2.6/2.7) with one change: it
    builds :class:`_Client` instead of ``PapermillNotebookClient``; papermill
    offers no way to choose the client class.
    """

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=__import__("papermill.log", fromlist=["logger"]).logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        return _Client(nb_man, **final_kwargs).execute()


papermill_engines.register(ENGINE, CellpipeEngine)


# -- a kernel spec of our own, through the public door -------------------------------
class _FixedSpecs(KernelSpecManager):
    """Answers every kernel name with one spec (the fork server's launcher)."""

    def __init__(self, spec: KernelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec


def fixed_spec_manager(spec: KernelSpec) -> KernelSpecManager:
    """A ``kernel_spec_manager`` for ``KernelManager`` that starts ``spec`` whatever the kernel name."""
    return _FixedSpecs(spec)


# -- kernels forked from cellpipe's fork server -----------------------------------------
from jupyter_client.provisioning import LocalProvisioner  # noqa: E402
from traitlets import Unicode  # noqa: E402


class ForkProvisioner(LocalProvisioner):
    """A kernel provisioner whose kernels are forked by cellpipe's fork server.

    ``LocalProvisioner`` prepares the launch as for any local kernel (ports or
    socket files, the connection file, the environment); then, instead of
    starting the kernel's command, the server at :attr:`address` is asked for a
    kernel with that connection file, environment, working folder and standard
    streams. The kernel is not this process's child: it is watched through a
    pidfd (no confusion with a reused pid), and signalled in its process group
    as ``LocalProvisioner`` signals its own kernels."""

    address = Unicode(help="the fork server's socket address")
    _pidfd: int | None = None
    _stdin: int | None = None  # the write end of the kernel's stdin (an ordinary kernel's is a pipe too)

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        import subprocess

        from cellpipe.engine.executors.forkserver import request_kernel

        opened: list[int] = []

        def stream(value: Any, fallback: int) -> int:
            if value is None:
                return fallback  # inherited, as Popen would
            if value == subprocess.DEVNULL:
                fd = os.open(os.devnull, os.O_RDWR)
                opened.append(fd)
                return fd
            if isinstance(value, int) and value >= 0:
                return value
            if hasattr(value, "fileno"):
                return value.fileno()
            raise ValueError(f"a forked kernel's standard stream cannot be {value!r}")

        km = self.parent
        assert km is not None  # a provisioner is its kernel manager's
        read_end, self._stdin = os.pipe()
        opened.append(read_end)
        try:
            pid = request_kernel(
                self.address, km.connection_file, dict(kwargs.get("env") or os.environ),
                str(kwargs.get("cwd") or os.getcwd()),
                (read_end, stream(kwargs.get("stdout"), 1), stream(kwargs.get("stderr"), 2)))
        except BaseException:
            os.close(self._stdin)
            self._stdin = None
            raise
        finally:
            for fd in opened:
                os.close(fd)
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfds here (or the kernel is already gone): by pid
            self._pidfd = None
        self.pid = self.pgid = pid  # the kernel leads a process group of its own
        self.cwd = kwargs.get("cwd", os.getcwd())
        return self.connection_info

    async def poll(self) -> int | None:
        if self.pid is None:
            return 0
        if self._pidfd is not None:
            import select

            readable, _, _ = select.select([self._pidfd], [], [], 0)
            return 0 if readable else None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return 0
        except PermissionError:
            pass
        return None

    async def wait(self) -> int | None:
        import asyncio

        while await self.poll() is None:
            await asyncio.sleep(0.02)
        self._release()
        return 0

    async def send_signal(self, signum: int) -> None:
        if self.pid is None or await self.poll() is not None:
            return
        try:
            os.killpg(self.pgid or self.pid, signum)
        except OSError:
            os.kill(self.pid, signum)

    async def kill(self, restart: bool = False) -> None:
        import select
        import signal

        try:
            await self.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            return
        if self._pidfd is not None:
            # gone within a millisecond or so: waiting here spares the manager's wait its
            # first tenth-of-a-second sleep (it polls at that interval)
            select.select([self._pidfd], [], [], 0.5)

    async def terminate(self, restart: bool = False) -> None:
        import signal

        try:
            await self.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    async def cleanup(self, restart: bool = False) -> None:
        self._release()
        await super().cleanup(restart=restart)

    def _release(self) -> None:
        for fd in (self._pidfd, self._stdin):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._pidfd = self._stdin = None
        self.pid = None


def fork_kernel_manager(kernel_name: str, spec: KernelSpec, address: str, **sockets: Any) -> Any:
    """A ``KernelManager`` whose kernel is forked by the fork server at ``address``."""
    import uuid

    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=kernel_name, kernel_spec_manager=fixed_spec_manager(spec), **sockets)
    km.kernel_id = str(uuid.uuid4())
    km.provisioner = ForkProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km,
                                     address=address)
    return km
