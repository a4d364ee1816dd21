"""Content-addressed objects: ``objects/ab/cdef…`` named by the BLAKE2b hash of
their bytes. Objects are written to a temporary name and renamed into place, so
a killed process never leaves half an object under a real name."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from cellpipe.engine.serialize import atomic_write

HASH_NAME = "blake2b"  # fast in pure CPython, 256-bit
_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


class ObjectStore:
    """Immutable blobs keyed by content hash."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / digest[2:]

    def has(self, digest: str, size: int | None = None) -> bool:
        try:
            st = self.path(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def verify(self, digest: str) -> bool:
        """True when the object exists and its bytes still hash to its name."""
        path = self.path(digest)
        return path.exists() and hash_file(path) == digest

    def remove(self, digest: str) -> None:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            pass

    def _place(self, target: Path, fill) -> None:
        """Create ``target`` from ``fill(tmp)`` under a temporary name, read-only, atomically."""
        def write(tmp: Path) -> None:
            fill(tmp)
            os.chmod(tmp, 0o444)

        atomic_write(target, write)

    def put_file(self, source: Path, digest: str | None = None, link: bool = False) -> str:
        """Store ``source``'s bytes; ``link`` hard-links files nobody will write again."""
        digest = digest or hash_file(source)
        target = self.path(digest)
        if not target.exists():
            self._place(target, lambda tmp: _link_or_copy(source, tmp, link))
        return digest

    def put_bytes(self, data: bytes) -> str:
        digest = hash_bytes(data)
        target = self.path(digest)
        if not target.exists():
            self._place(target, lambda tmp: tmp.write_bytes(data))
        return digest

    def read_bytes(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def materialize(self, digest: str, dest: Path, link: bool = True) -> None:
        """Put the object at ``dest`` (hard link when allowed, else a writable copy), atomically."""
        def write(tmp: Path) -> None:
            _link_or_copy(self.path(digest), tmp, link)
            if not link:
                os.chmod(tmp, 0o644)

        atomic_write(dest, write)


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
