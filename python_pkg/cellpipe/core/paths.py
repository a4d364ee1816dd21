"""Root-relative posix paths as tags and manifests spell them. Pure."""

from __future__ import annotations


def overlaps(a: str, b: str) -> bool:
    """Whether two root-relative paths are the same file or one is inside the other."""
    a, b = a.rstrip("/") or a, b.rstrip("/") or b
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")
