"""The processes a run starts, and what is left of them when it is killed.

Every process a run starts (fork server, kernels, whatever a step's code
starts) inherits the environment variable :data:`MARK`, whose value names the
store and the run. The fork server and its kernels also watch the run and go
when it goes (see :mod:`.forkserver`); what escaped
anyway (a step that started a daemon of its own) is found by that mark:
:func:`leftovers` lists the processes of runs of a store that are no longer
running, and the next run (and ``cellpipe doctor``) stops them.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: the environment variable that marks a process as started by a run: ``RUN_ID@STORE_FOLDER``
MARK = "CELLPIPE_RUN_MARK"
_PR_SET_PDEATHSIG = 1


def mark_value(store_folder: Path | str, run_id: str) -> str:
    return f"{run_id}@{os.path.realpath(store_folder)}"


def mark_run(store_folder: Path | str, run_id: str) -> Callable[[], None]:
    """Mark this process's future children as belonging to ``run_id`` of this
    store; returns what takes the mark off again (a run made in a process that
    lives on, a test's, must not mark what that process starts later)."""
    before = os.environ.get(MARK)
    os.environ[MARK] = mark_value(store_folder, run_id)

    def unmark() -> None:
        if before is None:
            os.environ.pop(MARK, None)
        else:
            os.environ[MARK] = before

    return unmark


def die_with_parent(signum: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``signum`` to this process when the thread that started
    it ends (``PR_SET_PDEATHSIG``). Only for a process started by a thread that
    lives as long as its process (a main thread). False where not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # the process's own symbols include libc's: no search (find_library runs ldconfig)
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reset_signals() -> None:
    """Give this process the signal dispositions a fresh interpreter has, for the
    signals that stop a run: a run started in the background (``nohup … &``, a
    server started that way) inherits SIGINT ignored, and then neither Ctrl-C nor
    the panel's Cancel would stop it. Blocked signals are unblocked too."""
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGQUIT):
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, [])


@dataclass(frozen=True)
class Leftover:
    """A process started by a run that is no longer running."""

    pid: int
    run_id: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} of run {self.run_id}: {self.command[:100]}"


def leftovers(store_folder: Path | str, keep_run: str | None = None) -> list[Leftover]:
    """Processes marked with a run of this store other than ``keep_run``, except
    this process and its ancestors. Read from ``/proc`` on Linux (a few
    milliseconds: every run looks), through psutil elsewhere."""
    folder = os.path.realpath(store_folder)
    spared = _ancestors()
    found: list[Leftover] = []
    for pid, environ, command in _marked_processes():
        if pid in spared:
            continue
        run_id, _, where = environ.partition("@")
        if where == folder and run_id != keep_run:
            found.append(Leftover(pid, run_id, command))
    return found


def _ancestors() -> set[int]:
    spared, pid = set(), os.getpid()
    while pid > 1 and pid not in spared:
        spared.add(pid)
        pid = _parent_of(pid)
    return spared


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        if pid == os.getpid():
            return os.getppid()
        return 0


def _marked_processes():
    """(pid, the mark's value, command line) of each process of this user carrying the mark."""
    key = MARK.encode() + b"="
    if os.path.isdir("/proc/self"):
        uid = os.getuid()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.stat(f"/proc/{name}").st_uid != uid:
                    continue
                with open(f"/proc/{name}/environ", "rb") as fh:
                    data = fh.read()
                if key not in data:
                    continue
                value = next(v[len(key):] for v in data.split(b"\0") if v.startswith(key))
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    command = fh.read().replace(b"\0", b" ").strip()
            except (OSError, StopIteration):
                continue
            yield int(name), value.decode(errors="replace"), command.decode(errors="replace")
        return
    import psutil

    for proc in psutil.process_iter(["pid"]):
        try:
            value = proc.environ().get(MARK)
            if value:
                yield proc.pid, value, " ".join(proc.cmdline()) or proc.name()
        except (psutil.Error, OSError):
            continue


def stop(processes: list[Leftover], timeout: float = 3.0) -> list[Leftover]:
    """SIGKILL each process; returns those still there after ``timeout``."""
    import psutil

    handles = []
    for left in processes:
        try:
            proc = psutil.Process(left.pid)
            if MARK in proc.environ():  # still the process we found (pids are reused)
                proc.kill()
                handles.append((left, proc))
        except (psutil.Error, OSError):
            continue
    deadline = time.monotonic() + timeout
    remaining = handles
    while remaining and time.monotonic() < deadline:
        remaining = [(left, p) for left, p in remaining if _running(p)]
        if remaining:
            time.sleep(0.05)
    return [left for left, _ in remaining]


def _running(proc) -> bool:
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def clean_up_after_crashes(store_folder: Path | str, run_id: str) -> list[Leftover]:
    """Stop what earlier runs of this store left running (they were killed before
    they could stop it), and say so on the log. Called by a run holding the
    store's lock, so no other run of this store is alive."""
    import logging

    found = leftovers(store_folder, keep_run=run_id)
    if found:
        left = stop(found)
        runs = ", ".join(sorted({p.run_id for p in found}))
        logging.getLogger("cellpipe").warning(
            "cellpipe: stopped %d process%s left running by run%s %s, which ended without cleaning up%s",
            len(found) - len(left), "es" * (len(found) - len(left) != 1), "s" * (len(set(runs.split(", "))) != 1),
            runs, "" if not left else "; still running: " + "; ".join(p.describe() for p in left))
    return found
