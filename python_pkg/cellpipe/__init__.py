"""cellpipe: turn tagged exploration notebooks into reproducible pipelines."""

from __future__ import annotations

from typing import Any

from cellpipe._version import __version__

__all__ = ["__version__", "check"]

#: the checks a notebook calls as ``cellpipe.check_...`` (see :mod:`cellpipe.engine.checks`)
_CHECKS = ("check", "check_no_nulls", "check_range", "check_rows", "check_schema", "check_drift", "check_metric",
           "CheckFailed")


def __getattr__(name: str) -> Any:
    """``cellpipe.check(...)`` and the data and model checks, imported on first use."""
    if name in _CHECKS:
        from cellpipe.engine import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'cellpipe' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Tell jupyter_server where the extension lives (this module)."""
    return [{"module": "cellpipe"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Load the REST API; jupyter_server is imported only here, never by the core."""
    from cellpipe.server import load_extension

    load_extension(serverapp)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Tell JupyterLab where the built frontend extension is (``labextension/``)."""
    return [{"src": "labextension", "dest": "cellpipe"}]
