"""What the run ran on: Python, installed packages, git commit. I/O edge."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any


def _site_key() -> str:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    parts = []
    for p in sorted(paths):
        try:
            parts.append(f"{p}:{os.stat(p).st_mtime_ns}")
        except OSError:
            parts.append(p)
    return sys.prefix + "|" + "|".join(parts)


def _scan() -> dict[str, Any]:
    from importlib import metadata

    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.name
        if name:
            versions[name.lower()] = dist.version
    modules = {
        module: sorted({d.lower() for d in dists})
        for module, dists in metadata.packages_distributions().items()
    }
    return {"versions": versions, "modules": modules}


def user_cache_file(key: str) -> Path | None:
    """Where this user's scan of the environment ``key`` is kept for every store:
    ``$XDG_CACHE_HOME/cellpipe`` (``~/.cache/cellpipe``); None when there is no home."""
    import hashlib

    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    name = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
    return Path(base) / "cellpipe" / f"environment-{name}.json"


def _read(cache_file: Path, key: str) -> dict[str, Any] | None:
    try:
        data = json.loads(cache_file.read_text())
        return data["installed"] if data.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(cache_file: Path, key: str, data: dict[str, Any]) -> None:
    from cellpipe.engine.fileutil import atomic_write

    text = json.dumps({"key": key, "installed": data})
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cache_file, lambda tmp: tmp.write_text(text))
    except OSError:
        pass


def installed(cache_file: Path | None = None, shared: bool = True) -> dict[str, Any]:
    """Installed distributions and which top-level modules they provide.

    Scanning costs half a second in a large environment (every distribution's
    metadata is parsed), so the result is cached in ``cache_file`` (the store's)
    and, with ``shared``, in this user's cache folder (:func:`user_cache_file`), for a
    new store; both are keyed by the environment and scanned again only when
    site-packages changes.
    """
    key = _site_key()
    if cache_file is not None:
        data = _read(cache_file, key)
        if data is not None:
            return data
    user_file = user_cache_file(key) if shared else None
    data = _read(user_file, key) if user_file is not None else None
    if data is None:
        data = _scan()
        if user_file is not None:
            _write(user_file, key, data)
    if cache_file is not None:
        _write(cache_file, key, data)
    return data


def module_versions(modules: set[str], info: dict[str, Any]) -> dict[str, str]:
    """``{distribution: version}`` for the distributions providing ``modules``."""
    found: dict[str, str] = {}
    for module in sorted(modules):
        for dist in info["modules"].get(module, []):
            version = info["versions"].get(dist)
            if version:
                found[dist] = version
    return found


def python_info() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "executable": sys.executable,
    }


def git_info(folder: Path) -> tuple[str | None, bool | None]:
    """The commit checked out in ``folder`` and whether the work tree is dirty."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder, capture_output=True, text=True, timeout=10,
        )
        return commit.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None
