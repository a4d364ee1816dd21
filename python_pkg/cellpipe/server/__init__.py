"""The Jupyter server extension: authenticated REST endpoints under
``/cellpipe/`` for the JupyterLab panel (see :mod:`.handlers` for the API).

Only :mod:`.handlers` imports jupyter_server; the modules beside it are plain
library code over the root, the store and the run processes. The core package
never imports this one: :func:`cellpipe._load_jupyter_server_extension` does,
when the server loads the extension.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_extension(serverapp: Any) -> None:
    """Register the handlers and the run registry on a running ServerApp."""
    from cellpipe.server.handlers import setup_handlers
    from cellpipe.server.runs import RunRegistry

    root = Path(serverapp.root_dir).expanduser().resolve()
    setup_handlers(serverapp.web_app, root, RunRegistry(root))
    serverapp.log.info("cellpipe: REST API at %scellpipe/ over %s", serverapp.web_app.settings["base_url"], root)
