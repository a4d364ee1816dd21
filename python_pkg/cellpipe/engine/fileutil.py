"""Small file helpers every part of the engine shares: atomic writes, content
hashes of files and folders (the convention is :mod:`cellpipe.core.digest`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from cellpipe.core.digest import hasher, tree_digest

_CHUNK = 1 << 20


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` and rename it
    onto ``path``: a reader sees the old file or the whole new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def hash_file(path: Path) -> str:
    """The content digest of one file, read in chunks."""
    h = hasher()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """Every file under ``folder``, sorted, as (posix path inside it, path)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path.relative_to(folder).as_posix(), path


def folder_listing(folder: Path, file_hash: Callable[[Path], str] = hash_file) -> dict[str, str]:
    """Posix path inside ``folder`` -> digest, for each of its files."""
    return {rel: file_hash(path) for rel, path in folder_files(folder)}


def path_hash(path: Path, file_hash: Callable[[Path], str] = hash_file) -> str:
    """A file's digest; for a folder, the digest of its listing (the one folder hash)."""
    if path.is_dir():
        return tree_digest(folder_listing(path, file_hash))
    return file_hash(path)
