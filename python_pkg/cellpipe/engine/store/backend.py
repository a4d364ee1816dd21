"""Where the store's objects and run folders live: one interface over fsspec.

A :class:`Storage` holds files under posix *keys* relative to its base
(``objects/ab/cdef…``, ``runs/<run>/…``). Every write is atomic: the bytes go
to a temporary key beside the target and are renamed into place, so a killed
process never leaves half a file under a real name.

Two implementations:

- :class:`FsspecStorage`: any fsspec location (``s3://bucket/prefix``,
  ``gs://…``, ``memory://…``, a shared path). A new remote store is an fsspec
  protocol, not new code here.
- :class:`LocalStorage`: a local folder, the default. The same interface, but
  with the shortcuts only a local disk has: hard links instead of copies and
  ``os.replace`` for the rename.

:func:`open_storage` picks one for a path or URL (``--store`` / ``CELLPIPE_STORE``).
The SQLite metadata is never here: it stays in a local folder
(:class:`cellpipe.engine.store.Store`).
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cellpipe.engine.fileutil import atomic_write
from cellpipe.errors import UsageError

#: URL schemes that name a local folder
LOCAL_PROTOCOLS = ("file", "local")


def is_url(location: str) -> bool:
    """Whether ``location`` is an fsspec URL (``proto://…``) rather than a path."""
    return "://" in location


def _tmp_key(key: str) -> str:
    head, name = posixpath.split(key)
    return posixpath.join(head, f".{name}.{secrets.token_hex(6)}.tmp")


class Storage(ABC):
    """Files under keys, written atomically. ``url`` names the location for people."""

    url: str

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The stored file's size in bytes, or None when there is none."""

    @abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """The stored file, opened for reading; FileNotFoundError when missing."""

    @abstractmethod
    def put_file(self, key: str, source: Path, link: bool = False, readonly: bool = False) -> None:
        """Store ``source`` under ``key``; ``link`` allows sharing its bytes (a hard
        link) when the source will never be written again."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, readonly: bool = False) -> None:
        """Store ``data`` under ``key``."""

    @abstractmethod
    def get_file(self, key: str, dest: Path, link: bool = False) -> None:
        """Put the stored file at the local path ``dest``, atomically; ``link``
        allows a hard link (read-only) instead of a writable copy."""

    @abstractmethod
    def remove(self, key: str) -> None:
        """Delete the stored file, if any."""

    @abstractmethod
    def keys(self, prefix: str) -> Iterator[str]:
        """Every key under the folder ``prefix``."""

    @abstractmethod
    def where(self, key: str) -> str:
        """Where the file under ``key`` is, as a user can open it (a path or a URL)."""

    def local_path(self, key: str) -> Path | None:
        """The file's local path when the storage is a local folder, else None."""
        return None

    def read_bytes(self, key: str) -> bytes:
        """The stored file's bytes."""
        with self.open(key) as fh:
            return fh.read()

    def put_tree(self, prefix: str, folder: Path) -> None:
        """Store every file under the local ``folder`` below the key ``prefix``."""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.put_file(posixpath.join(prefix, path.relative_to(folder).as_posix()), path)


class FsspecStorage(Storage):
    """Any fsspec filesystem, below a base path on it."""

    def __init__(self, fs: Any, base: str, url: str | None = None) -> None:
        self.fs = fs
        self.base = base.rstrip("/")
        self.url = url or fs.unstrip_protocol(self.base)

    def _full(self, key: str) -> str:
        return f"{self.base}/{key}" if key else self.base

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._full(key)))

    def size(self, key: str) -> int | None:
        try:
            return int(self.fs.size(self._full(key)))
        except FileNotFoundError:
            return None

    def open(self, key: str) -> IO[bytes]:
        return self.fs.open(self._full(key), "rb")

    def _commit(self, tmp: str, key: str) -> None:
        try:
            self.fs.mv(tmp, self._full(key))
        except BaseException:
            self._discard(tmp)
            raise

    def _discard(self, tmp: str) -> None:
        try:
            self.fs.rm(tmp)
        except (FileNotFoundError, OSError):
            pass

    def put_file(self, key: str, source: Path, link: bool = False, readonly: bool = False) -> None:
        tmp = self._full(_tmp_key(key))
        self.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
        try:
            self.fs.put_file(str(source), tmp)
        except BaseException:
            self._discard(tmp)
            raise
        self._commit(tmp, key)

    def put_bytes(self, key: str, data: bytes, readonly: bool = False) -> None:
        tmp = self._full(_tmp_key(key))
        self.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
        try:
            self.fs.pipe_file(tmp, data)
        except BaseException:
            self._discard(tmp)
            raise
        self._commit(tmp, key)

    def get_file(self, key: str, dest: Path, link: bool = False) -> None:
        def fetch(tmp: Path) -> None:
            with self.fs.open(self._full(key), "rb") as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)

        atomic_write(dest, fetch)

    def remove(self, key: str) -> None:
        try:
            self.fs.rm(self._full(key))
        except FileNotFoundError:
            pass

    def keys(self, prefix: str) -> Iterator[str]:
        root = self._full(prefix)
        try:
            found = self.fs.find(root)
        except FileNotFoundError:
            return
        start = len(self.fs._strip_protocol(self.base).rstrip("/")) + 1
        for path in sorted(found):
            yield self.fs._strip_protocol(path)[start:]

    def where(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key}"


class LocalStorage(FsspecStorage):
    """A local folder: fsspec's local filesystem, with hard links and ``os.replace``."""

    def __init__(self, folder: Path) -> None:
        from fsspec.implementations.local import LocalFileSystem

        self.folder = folder
        super().__init__(LocalFileSystem(), str(folder), url=str(folder))

    def path(self, key: str) -> Path:
        """The local path of ``key``."""
        return self.folder / key

    def local_path(self, key: str) -> Path | None:
        return self.folder / key

    def exists(self, key: str) -> bool:
        return (self.folder / key).exists()

    def size(self, key: str) -> int | None:
        try:
            return (self.folder / key).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, key: str) -> IO[bytes]:
        return open(self.folder / key, "rb")

    def put_file(self, key: str, source: Path, link: bool = False, readonly: bool = False) -> None:
        def write(tmp: Path) -> None:
            _link_or_copy(source, tmp, link)
            if readonly:
                os.chmod(tmp, 0o444)

        atomic_write(self.folder / key, write)

    def put_bytes(self, key: str, data: bytes, readonly: bool = False) -> None:
        def write(tmp: Path) -> None:
            tmp.write_bytes(data)
            if readonly:
                os.chmod(tmp, 0o444)

        atomic_write(self.folder / key, write)

    def get_file(self, key: str, dest: Path, link: bool = False) -> None:
        def write(tmp: Path) -> None:
            _link_or_copy(self.folder / key, tmp, link)
            if not link:
                os.chmod(tmp, 0o644)

        atomic_write(dest, write)

    def remove(self, key: str) -> None:
        try:
            (self.folder / key).unlink()
        except FileNotFoundError:
            pass

    def keys(self, prefix: str) -> Iterator[str]:
        root = self.folder / prefix
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if path.is_file():
                yield path.relative_to(self.folder).as_posix()

    def where(self, key: str) -> str:
        return str(self.folder / key)


def _link_or_copy(source: Path, tmp: Path, link: bool) -> None:
    """Fill ``tmp`` (an existing empty file) with ``source``: a hard link or a copy."""
    if link:
        os.unlink(tmp)
        try:
            os.link(source, tmp)
            return
        except OSError:
            pass
    shutil.copyfile(source, tmp)


def open_storage(location: str | Path) -> Storage:
    """The storage at a local path or an fsspec URL.

    A URL whose protocol is not installed names the package to install.
    """
    text = str(location)
    if not is_url(text):
        return LocalStorage(Path(text).expanduser().resolve())
    protocol = text.split("://", 1)[0]
    if protocol in LOCAL_PROTOCOLS:
        return LocalStorage(Path(text.split("://", 1)[1]).expanduser().resolve())
    import fsspec

    try:
        fs, base = fsspec.core.url_to_fs(text)
    except ImportError as exc:
        raise UsageError(f"the store {text} needs a package that is not installed: {exc}. "
                         "Fix: install the package it names into this environment") from exc
    except ValueError as exc:
        raise UsageError(f"the store {text} is not a location fsspec knows: {exc}. "
                         "Fix: pass a folder or a URL such as s3://bucket/prefix") from exc
    return FsspecStorage(fs, base, url=text.rstrip("/"))
