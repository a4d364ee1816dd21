"""The store in ``.cellpipe/``: content-addressed objects, run folders, and the
SQLite metadata (see :mod:`cellpipe.engine.store.db`).

One run at a time writes to a store: :meth:`Store.lock` takes an exclusive
``flock`` on ``.cellpipe/lock``; a second run is refused with a message naming
the run that holds it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from pathlib import Path

from cellpipe.engine.store.db import Database
from cellpipe.engine.store.objects import ObjectStore, hash_file
from cellpipe.errors import CellpipeError

__all__ = ["Store", "StoreBusy", "Database", "ObjectStore", "hash_file", "pid_alive"]


class StoreBusy(CellpipeError):
    """Another cellpipe run holds the store's lock."""

    def __init__(self, folder: Path, holder: dict) -> None:
        who = f"run {holder.get('run', '?')} (pid {holder.get('pid', '?')})" if holder else "another run"
        super().__init__(
            f"the store {folder} is in use by {who}. Fix: wait for it to finish, stop it, "
            "or use another store with --store DIR"
        )


def pid_alive(pid: int | None) -> bool:
    """True when a process with this pid exists (it may belong to another user)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


class Store:
    """Objects, metadata and run folders under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.objects = ObjectStore(folder / "objects")
        self.db = Database(folder / "cellpipe.db")
        self._lock_fd: int | None = None

    def close(self) -> None:
        self.unlock()
        self.db.close()

    # -- locking ---------------------------------------------------------------
    def lock(self, run_id: str, wait: float = 0.0) -> None:
        path = self.folder / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    try:
                        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
                    except ValueError:
                        holder = {}
                    os.close(fd)
                    raise StoreBusy(self.folder, holder) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"run": run_id, "pid": os.getpid()}).encode(), 0)
        self._lock_fd = fd
        self.db.mark_abandoned_runs(pid_alive)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    # -- files -------------------------------------------------------------------
    def file_hash(self, path: Path) -> str:
        """Content hash of a work-tree file, hashed again only when its stat changes."""
        st = path.stat()
        key = str(path.resolve())
        cached = self.db.stat_get(key)
        if cached and cached[:3] == (st.st_ino, st.st_mtime_ns, st.st_size):
            return cached[3]
        digest = hash_file(path)
        self.db.stat_put(key, st.st_ino, st.st_mtime_ns, st.st_size, digest)
        return digest

    def run_folder(self, run_id: str) -> Path:
        return self.folder / "runs" / run_id
