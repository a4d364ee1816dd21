"""cellpipe: turn tagged exploration notebooks into reproducible pipelines."""

from __future__ import annotations

from typing import Any

from cellpipe._version import __version__

__all__ = ["__version__"]


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
