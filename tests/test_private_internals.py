"""papermill's, nbclient's and jupyter_client's internals are reached from one
module only (cellpipe.engine.executors._compat), so that a new release of one of
them is checked in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import cellpipe

PACKAGE = Path(cellpipe.__file__).parent
COMPAT = PACKAGE / "engine" / "executors" / "_compat.py"
#: modules of those libraries that are not their public API
PRIVATE_MODULES = ("papermill.clientwrap", "papermill.utils", "papermill.engines", "nbclient.client",
                   "nbclient.util", "jupyter_client.launcher", "jupyter_client.provisioning")
#: private members of their objects that cellpipe uses (in _compat only)
PRIVATE_MEMBERS = ("_handle_kernel_info_reply", "_kernel_spec", "_async_cleanup_kernel",
                   "async_start_new_kernel_client", "execute_managed_notebook")


def uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PRIVATE_MODULES):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.startswith(PRIVATE_MODULES)]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_MEMBERS:
            found.append(f".{node.attr}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in PRIVATE_MEMBERS:
            found.append(f"def {node.name}")
    return found


def test_only_the_compat_module_touches_library_internals():
    offenders = {str(p.relative_to(PACKAGE)): uses(p) for p in PACKAGE.rglob("*.py") if p != COMPAT}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_compat_module_is_where_they_are():
    # the check above can fail: the hooks it looks for are really there
    assert {"._handle_kernel_info_reply", "def execute_managed_notebook",
            "def async_start_new_kernel_client"} <= set(uses(COMPAT))
