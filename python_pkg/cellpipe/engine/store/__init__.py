"""The store: content-addressed objects and run folders in a
:class:`~cellpipe.engine.store.backend.Storage` (a local folder, ``.cellpipe/`` by
default, or any fsspec URL), and the SQLite metadata (see
:mod:`cellpipe.engine.store.db`), always in a local folder.

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

from cellpipe.engine.fileutil import hash_file
from cellpipe.engine.store.backend import FsspecStorage, LocalStorage, Storage, is_url, open_storage, redact
from cellpipe.engine.store.db import Database, StoreTooNew
from cellpipe.engine.store.objects import CorruptObject, ObjectStore
from cellpipe.errors import CellpipeError

__all__ = [
    "Store", "StoreBusy", "StoreTooNew", "Database", "ObjectStore", "CorruptObject", "Storage",
    "LocalStorage", "FsspecStorage", "open_storage", "redact", "locate_store", "pid_alive", "STORE_DIR", "STORE_ENV",
]

#: the store's folder name at the project root
STORE_DIR = ".cellpipe"
#: the environment variable naming the store (a path or an fsspec URL)
STORE_ENV = "CELLPIPE_STORE"


def locate_store(root: Path, chosen: str | None = None) -> tuple[Path, Storage]:
    """Where a project's store is: its local metadata folder and its storage.

    ``chosen`` is ``--store`` (else ``$CELLPIPE_STORE``, else ``<root>/.cellpipe``).
    ``[tool.cellpipe] store`` in the root's ``pyproject.toml`` comes after the
    environment (a relative folder there is relative to the root).
    A path puts everything in that folder; an fsspec URL puts objects and run
    folders there and keeps the metadata in ``<root>/.cellpipe``; a URL that does
    not answer is a usage error naming it.
    """
    chosen = chosen or os.environ.get(STORE_ENV) or None
    if chosen is None:
        from cellpipe.engine.settings import setting

        configured = setting(root, "store")
        if configured is not None and not is_url(configured):
            configured = str(root / Path(configured).expanduser())
        chosen = configured
    if chosen is None:
        folder = root / STORE_DIR
        return folder, LocalStorage(folder)
    storage = open_storage(chosen, check=True)
    if isinstance(storage, LocalStorage):
        return storage.folder, storage
    return root / STORE_DIR, storage


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
    """Objects and run folders in a storage, metadata in the local ``folder``.

    ``storage`` defaults to the local folder itself. ``readonly`` opens an
    existing store without writing anything (no folder, no schema, no stat
    cache): for questions such as the panel's.
    """

    def __init__(self, folder: Path, storage: Storage | None = None, readonly: bool = False) -> None:
        self.folder = folder
        self.readonly = readonly
        if folder.exists() and not folder.is_dir():
            raise CellpipeError(f"the store {folder} is a file, not a folder. Fix: move the file aside, "
                                "or use another store with --store DIR")
        if not readonly:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CellpipeError(f"cannot create the store {folder}: {exc.strerror or exc}. "
                                    "Fix: use a folder you can write to with --store DIR") from exc
        self.storage = storage if storage is not None else LocalStorage(folder)
        self.objects = ObjectStore(self.storage)
        self.db = Database(folder / "cellpipe.db", readonly=readonly)
        self._lock_fd: int | None = None

    @classmethod
    def open(cls, root: Path, chosen: str | None = None, readonly: bool = False) -> Store:
        """The project's store (see :func:`locate_store`)."""
        folder, storage = locate_store(root, chosen)
        return cls(folder, storage, readonly=readonly)

    @property
    def local(self) -> bool:
        """Whether objects and run folders are on this machine's disk."""
        return isinstance(self.storage, LocalStorage) and self.storage.folder == self.folder

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
        """The local folder a run writes its notebooks and logs to (for a remote
        store, a staging folder that :meth:`publish_run` copies to the storage)."""
        return self.folder / "runs" / run_id

    def publish_run(self, run_id: str) -> None:
        """Copy a run folder to a remote storage; nothing to do for a local one."""
        if not self.local:
            folder = self.run_folder(run_id)
            if folder.is_dir():
                self.storage.put_tree(f"runs/{run_id}", folder)
