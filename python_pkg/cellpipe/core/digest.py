"""The one hash convention: BLAKE2b with a 256-bit digest, as lowercase hex.

Objects in the store, work-tree files, folders, code and cache keys are all
named by it. Pure: hashing bytes touches nothing; streaming a file is
:func:`cellpipe.engine.fileutil.hash_file`, which uses :func:`hasher`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: the algorithm's name as recorded next to digests
HASH_NAME = "blake2b-256"
DIGEST_SIZE = 32
#: a digest's length in hex characters
HEX_LENGTH = DIGEST_SIZE * 2


def hasher() -> hashlib.blake2b:
    """A fresh hasher of the convention, to feed in chunks."""
    return hashlib.blake2b(digest_size=DIGEST_SIZE)


def digest_bytes(data: bytes) -> str:
    """The digest of ``data``."""
    return hashlib.blake2b(data, digest_size=DIGEST_SIZE).hexdigest()


def digest_text(text: str) -> str:
    """The digest of ``text`` encoded as UTF-8."""
    return digest_bytes(text.encode())


def canonical_json(value: Any) -> bytes:
    """``value`` as JSON with sorted keys: equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, default=str).encode()


def digest_json(value: Any) -> str:
    """The digest of ``value``'s canonical JSON."""
    return digest_bytes(canonical_json(value))


def tree_digest(listing: dict[str, str]) -> str:
    """A folder's digest: that of its listing (posix path inside it -> file digest).

    The same bytes are stored as the folder's tree object, so a folder output's
    recorded hash and a folder input's key part are the same number.
    """
    return digest_bytes(tree_bytes(listing))


def tree_bytes(listing: dict[str, str]) -> bytes:
    """The canonical bytes of a folder listing (what :func:`tree_digest` hashes)."""
    return json.dumps(listing, sort_keys=True).encode()


def is_digest(text: str) -> bool:
    """Whether ``text`` looks like a digest of this convention."""
    return len(text) == HEX_LENGTH and all(c in "0123456789abcdef" for c in text)
