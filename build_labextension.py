"""Build hook of the wheel: the JupyterLab extension, built with Node when it is not prebuilt.

pyproject.toml's ``[tool.hatch.build.hooks.jupyter-builder]`` calls :func:`build` unless
``python_pkg/cellpipe/labextension/static/style.js`` exists (an sdist ships it prebuilt). From a
clone the extension is built with ``jlpm``, which needs Node.js 20: without it the build stops
with one line that says so. ``CELLPIPE_SKIP_LABEXTENSION=1`` builds a wheel without the lab
extension (the command line and the server extension work; the panel is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_MAJOR = 20
TARGETS = ("python_pkg/cellpipe/labextension/static/style.js", "python_pkg/cellpipe/labextension/package.json")
FIX = ("install Node.js 20 or newer (https://nodejs.org), or set CELLPIPE_SKIP_LABEXTENSION=1 "
       "to build the command line without the JupyterLab panel")


def node_problem() -> str | None:
    """Why Node cannot build the extension here, in one line; None when it can."""
    node = shutil.which("node")
    if node is None:
        return f"cellpipe: building the JupyterLab extension from a clone needs Node.js {NODE_MAJOR}; {FIX}"
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None  # a node we cannot ask: let the build say what goes wrong
    if major < NODE_MAJOR:
        return f"cellpipe: building the JupyterLab extension needs Node.js {NODE_MAJOR}, found {version}; {FIX}"
    return None


def build(target_name: str, version: str, **kwargs: Any) -> None:
    """Build the lab extension with hatch-jupyter-builder's npm builder, after checking for Node."""
    if os.environ.get("CELLPIPE_SKIP_LABEXTENSION") == "1":
        return
    problem = node_problem()
    if problem:
        raise SystemExit(problem)  # one line, not a traceback from inside the build backend
    from hatch_jupyter_builder import npm_builder

    npm_builder(target_name, version, **kwargs)
    missing = [t for t in TARGETS if not Path(t).exists()] if version == "standard" else []
    if missing:
        raise SystemExit(f"cellpipe: the JupyterLab extension build did not write {', '.join(missing)}; "
                         "run `jlpm build:prod` to see why")
