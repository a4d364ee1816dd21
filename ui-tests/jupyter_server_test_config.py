"""JupyterLab server for the galata tests (never use this configuration elsewhere).

Serves a fresh temporary root (the tests upload the example notebook into it)
with a token, so every call to the cellpipe REST API is authenticated, and
allows running as root, as CI does.
"""

import os
import tempfile

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821
configure_jupyter_server(c)

c.ServerApp.port = int(os.environ.get("CELLPIPE_UI_PORT", "8899"))
c.IdentityProvider.token = os.environ.get("CELLPIPE_UI_TOKEN", "cellpipe-ui-tests")
c.ServerApp.disable_check_xsrf = False
c.ServerApp.root_dir = os.environ.get("CELLPIPE_UI_ROOT") or tempfile.mkdtemp(prefix="cellpipe-ui-")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    c.ServerApp.allow_root = True
# One quiet kernel per opened notebook is enough; no terminals, no news checks.
c.ServerApp.terminals_enabled = False
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
