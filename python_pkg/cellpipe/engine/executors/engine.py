"""A papermill engine that connects to an already started kernel without a
fixed wait: nbclient's start-up drains IOPub until it has been quiet for
0.2 s, a fifth of a second per step. Here the client instead waits for the
``idle`` status that answers its own ``kernel_info`` request, which proves
IOPub is connected and leaves nothing to drain.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_core.utils import ensure_async, run_sync

from cellpipe.engine.executors import load_papermill

load_papermill()  # before any papermill module: keeps the runner lean

from papermill.clientwrap import PapermillNotebookClient  # noqa: E402
from papermill.engines import NBClientEngine, papermill_engines  # noqa: E402
from papermill.utils import merge_kwargs, remove_args  # noqa: E402

ENGINE = "cellpipe"


async def _wait_ready(kc, timeout: float) -> None:
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


class _Client(PapermillNotebookClient):
    async def async_start_new_kernel_client(self):
        assert self.km is not None
        try:
            # an asynchronous client, whatever the manager: a blocking one would block
            # the event loop while it waits for output, so that nbclient's check that
            # the kernel is alive never runs and a kernel that dies hangs the step
            from jupyter_client.asynchronous import AsyncKernelClient

            info = self.km.get_connection_info(session=True)
            self.kc = AsyncKernelClient(**info, connection_file=self.km.connection_file, parent=self.km)
            await ensure_async(self.kc.start_channels())
            await _wait_ready(self.kc, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()
            raise
        self.kc.allow_stdin = False
        return self.kc

    # nbclient binds the sync wrapper to its own coroutine at class creation
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


class CellpipeEngine(NBClientEngine):
    """NBClientEngine with the quicker kernel client start-up."""

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
