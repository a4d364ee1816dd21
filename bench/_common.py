"""What the benchmarks here share."""

from __future__ import annotations

import os


def as_installed() -> None:
    """Run cellpipe as an installed package runs: with its modules' bytecode cached.

    A shell that sets ``PYTHONDONTWRITEBYTECODE`` (some sandboxes do) makes Python
    compile cellpipe's sources again in every process it starts (the runner, the fork
    server), while the peers measured alongside are installed packages whose bytecode
    pip compiled once. Without the variable, an editable checkout caches its bytecode
    on the first run, as ``pip install`` would have."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
