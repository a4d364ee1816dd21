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

import functools
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
#: protocol -> (the package fsspec needs for it, what to install: cellpipe's extra or the package)
EXTRAS = {
    "s3": ("s3fs", "cellpipe[s3]"), "s3a": ("s3fs", "cellpipe[s3]"),
    "gs": ("gcsfs", "gcsfs"), "gcs": ("gcsfs", "gcsfs"),
    "az": ("adlfs", "adlfs"), "abfs": ("adlfs", "adlfs"), "abfss": ("adlfs", "adlfs"),
}
#: object stores whose single put is atomic (a reader sees the whole object or none,
#: multipart uploads included): written in place, without a temporary key and a copy
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
#: botocore settings for s3 unless the user's fsspec config sets its own: an endpoint
#: that does not answer fails in seconds, not after a minute of retries
S3_CONFIG = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3, "mode": "standard"}}


def is_url(location: str) -> bool:
    """Whether ``location`` is an fsspec URL (``proto://…``) rather than a path."""
    return "://" in location


#: (filesystem, base) pairs that answered :meth:`Storage.check` in this process
_CHECKED: set[tuple[int, str]] = set()


def redact(location: str) -> str:
    """``location`` fit to print or record: a password in the URL and the values of
    its query (tokens, signatures) are replaced by ``***``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    if not is_url(location):
        return location
    try:
        parts = urlsplit(location)
    except ValueError:
        return location.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else f"***@{host}"
    query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_argv(argv: list[str]) -> list[str]:
    """A command line fit to record: every URL in it redacted (``--opt=URL`` too)."""
    out = []
    for arg in argv:
        head, sep, tail = arg.partition("=")
        if sep and head.startswith("-") and is_url(tail):
            out.append(f"{head}={redact(tail)}")
        else:
            out.append(redact(arg) if is_url(arg) else arg)
    return out


def _tmp_key(key: str) -> str:
    head, name = posixpath.split(key)
    return posixpath.join(head, f".{name}.{secrets.token_hex(6)}.tmp")


class Storage(ABC):
    """Files under keys, written atomically. ``url`` names the location for people
    (credentials redacted).

    This interface is stable: executors running steps elsewhere (a Dask worker)
    get a storage with :func:`open_storage` and read and write objects and run
    folders through these methods only. Keys are posix paths relative to the
    storage's base; a write under a key is whole or absent, never half.
    """

    url: str
    #: the location exactly as given (credentials included): what another process
    #: passes to :func:`open_storage` to reach it; never printed nor recorded
    location: str

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

    def check(self) -> None:
        """Raise a :class:`~cellpipe.errors.UsageError` (exit 2) naming the location and
        the fix when it cannot be reached; nothing for a location that answers."""
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
        self.location = url or fs.unstrip_protocol(self.base)
        self.url = redact(self.location)
        protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
        #: written in place: the backend's put is atomic already
        self.atomic_put = bool(ATOMIC_PUT.intersection(protocols))

    def check(self) -> None:
        memo = (id(self.fs), self.base)
        if memo in _CHECKED:
            return
        try:
            self.fs.exists(self.base)
            bucket = self.base.split("/", 1)[0]
            missing_bucket = self.atomic_put and bool(bucket) and not self.fs.exists(bucket)
        except Exception as exc:  # noqa: BLE001 - any backend's error: one sentence, exit 2
            raise UsageError(
                f"cannot reach the store {self.url}: {type(exc).__name__}: {str(exc)[:300]}. Fix: check the "
                "URL, the endpoint (AWS_ENDPOINT_URL for s3), the network and the credentials") from exc
        if missing_bucket:
            raise UsageError(f"the bucket {bucket} of {self.url} does not exist. Fix: create it, "
                             "or name an existing bucket in the URL")
        _CHECKED.add(memo)

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

    def read_bytes(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._full(key)))  # one request (open() asks for the size first)

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
        if self.atomic_put:
            self.fs.put_file(str(source), self._full(key))
            return
        tmp = self._full(_tmp_key(key))
        self.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
        try:
            self.fs.put_file(str(source), tmp)
        except BaseException:
            self._discard(tmp)
            raise
        self._commit(tmp, key)

    def put_bytes(self, key: str, data: bytes, readonly: bool = False) -> None:
        if self.atomic_put:
            self.fs.pipe_file(self._full(key), data)
            return
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
        self.folder = folder
        self.base = str(folder).rstrip("/")
        self.location = self.url = str(folder)
        self.atomic_put = False

    @functools.cached_property
    def fs(self) -> Any:
        """fsspec's local filesystem, imported when first needed (a run that only reads
        and writes its folder never needs it: importing fsspec is a third of a no-op run's imports)."""
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()

    def check(self) -> None:
        pass  # created on first write; an unwritable folder is reported then

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

    def read_bytes(self, key: str) -> bytes:
        return (self.folder / key).read_bytes()

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


def open_storage(location: str | Path, check: bool = False) -> Storage:
    """The storage at a local path or an fsspec URL; ``check`` also makes sure it
    answers (see :meth:`Storage.check`).

    A URL whose protocol is not installed names the extra (or package) to install.
    """
    text = str(location)
    if not is_url(text):
        return LocalStorage(Path(text).expanduser().resolve())
    protocol = text.split("://", 1)[0].lower()
    if protocol in LOCAL_PROTOCOLS:
        return LocalStorage(Path(text.split("://", 1)[1]).expanduser().resolve())
    import fsspec

    shown = redact(text)
    options: dict[str, Any] = {}
    if protocol in ("s3", "s3a") and "config_kwargs" not in fsspec.config.conf.get("s3", {}):
        options["config_kwargs"] = S3_CONFIG
    try:
        fs, base = fsspec.core.url_to_fs(text, **options)
    except ImportError as exc:
        package, extra = EXTRAS.get(protocol, (None, None))
        fix = (f"pip install '{extra}'" if extra else f"install the package it names ({exc})")
        needs = f"the package {package}" if package else "a package that is not installed"
        raise UsageError(f"the store {shown} needs {needs}, which is not installed. Fix: {fix}") from exc
    except ValueError as exc:
        raise UsageError(f"the store {shown} is not a location fsspec knows: {str(exc).replace(text, shown)}. "
                         "Fix: pass a folder or a URL such as s3://bucket/prefix") from exc
    storage = FsspecStorage(fs, base, url=text.rstrip("/"))
    if check:
        storage.check()
    return storage
