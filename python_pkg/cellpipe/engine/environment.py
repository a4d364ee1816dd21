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


def installed(cache_file: Path | None = None) -> dict[str, Any]:
    """Installed distributions and which top-level modules they provide.

    Scanning costs tens of milliseconds, so the result is cached in
    ``cache_file`` and scanned again only when site-packages changes.
    """
    key = _site_key()
    if cache_file is not None:
        try:
            data = json.loads(cache_file.read_text())
            if data.get("key") == key:
                return data["installed"]
        except (OSError, ValueError, KeyError):
            pass
    data = _scan()
    if cache_file is not None:
        from cellpipe.engine.fileutil import atomic_write

        text = json.dumps({"key": key, "installed": data})
        try:
            atomic_write(cache_file, lambda tmp: tmp.write_text(text))
        except OSError:
            pass
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
