"""Content-addressed objects: ``objects/ab/cdef…`` named by the digest of their
bytes (:mod:`cellpipe.core.digest`), kept in a :class:`~cellpipe.engine.store.backend.Storage`.

Objects are only ever added, each written atomically (the storage writes then
renames), and read back only after their bytes hash to their name again: a
corrupt or half-copied object is never handed on as if it were good.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from cellpipe.core.digest import digest_bytes, hasher
from cellpipe.engine.fileutil import atomic_write, hash_file
from cellpipe.engine.store.backend import LocalStorage, Storage

PREFIX = "objects"


class CorruptObject(Exception):
    """An object's bytes no longer hash to its name (or it is gone)."""

    def __init__(self, digest: str, where: str) -> None:
        self.digest = digest
        self.where = where
        super().__init__(f"stored object {where} is corrupt or missing")


def object_key(digest: str, prefix: str = PREFIX) -> str:
    """The storage key of the object named ``digest``."""
    return posixpath.join(prefix, digest[:2], digest[2:])


class ObjectStore:
    """Immutable blobs keyed by content hash, in a storage (a local folder by default)."""

    def __init__(self, storage: Storage | Path, prefix: str = PREFIX) -> None:
        if isinstance(storage, Path):  # a local folder of objects
            storage, prefix = LocalStorage(storage), ""
        self.storage = storage
        self.prefix = prefix

    def key(self, digest: str) -> str:
        """The storage key of the object named ``digest``."""
        return object_key(digest, self.prefix)

    def path(self, digest: str) -> Path:
        """The object's local path; only for a local store."""
        local = self.storage.local_path(self.key(digest))
        if local is None:
            raise ValueError(f"the store {self.storage.url} is not a local folder")
        return local

    def where(self, digest: str) -> str:
        """Where the object is, as a user can find it (a path or a URL)."""
        return self.storage.where(self.key(digest))

    def size(self, digest: str) -> int | None:
        """The object's size in bytes, or None when it is not stored."""
        return self.storage.size(self.key(digest))

    def has(self, digest: str, size: int | None = None) -> bool:
        """Whether the object is stored (and, when ``size`` is given, has that size)."""
        found = self.size(digest)
        return found is not None and (size is None or found == size)

    def verify(self, digest: str) -> bool:
        """True when the object exists and its bytes still hash to its name."""
        key = self.key(digest)
        local = self.storage.local_path(key)
        if local is not None:
            return local.exists() and hash_file(local) == digest
        try:
            with self.storage.open(key) as fh:
                h = hasher()
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        except FileNotFoundError:
            return False
        return h.hexdigest() == digest

    def remove(self, digest: str) -> None:
        """Drop the object (a corrupt one, or one `cellpipe gc` found nothing needs)."""
        self.storage.remove(self.key(digest))

    def put_file(self, source: Path, digest: str | None = None, link: bool = False) -> str:
        """Store ``source``'s bytes; ``link`` hard-links files nobody will write again."""
        digest = digest or hash_file(source)
        if not self.has(digest):
            self.storage.put_file(self.key(digest), source, link=link, readonly=True)
        return digest

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its digest."""
        digest = digest_bytes(data)
        if not self.has(digest):
            self.storage.put_bytes(self.key(digest), data, readonly=True)
        return digest

    def read_bytes(self, digest: str) -> bytes:
        """The object's bytes, checked against its name; CorruptObject when they differ."""
        try:
            data = self.storage.read_bytes(self.key(digest))
        except FileNotFoundError:
            raise CorruptObject(digest, self.where(digest)) from None
        if digest_bytes(data) != digest:
            raise CorruptObject(digest, self.where(digest))
        return data

    def materialize(self, digest: str, dest: Path, link: bool = True, verified: bool = False) -> None:
        """Put the object at ``dest`` (hard link when allowed, else a writable copy), atomically.

        Its bytes are checked against its name first, unless the caller just did
        (``verified``); a corrupt object raises CorruptObject and ``dest`` is untouched.
        """
        key = self.key(digest)
        if self.storage.local_path(key) is not None:
            if not verified and not self.verify(digest):
                raise CorruptObject(digest, self.where(digest))
            self.storage.get_file(key, dest, link=link)
            return

        def fetch(tmp: Path) -> None:  # remote: hash while downloading, keep only good bytes
            h = hasher()
            try:
                with self.storage.open(key) as src, open(tmp, "wb") as out:
                    while chunk := src.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
            except FileNotFoundError:
                raise CorruptObject(digest, self.where(digest)) from None
            if h.hexdigest() != digest:
                raise CorruptObject(digest, self.where(digest))
            os.chmod(tmp, 0o644)

        atomic_write(dest, fetch)
