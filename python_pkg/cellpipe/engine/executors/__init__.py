"""Run steps: on this machine (:mod:`.local`), with kernels forked from a
preloaded process (:mod:`.forkserver`), through a papermill engine with a quick
kernel handshake (:mod:`.engine`)."""

from __future__ import annotations

import importlib.abc
import os
import sys
from contextlib import contextmanager

#: optional imports of papermill and nbformat the runner never uses, and what
#: they cost it: pyarrow (papermill's HDFS support) pulls in numpy, ~80 MB; the
#: URI-syntax checker of jsonschema's format checking (nbformat imports
#: jsonschema) compiles a grammar, ~0.7 s. Both are optional to those packages.
_SKIPPED = ("pyarrow", "rfc3987_syntax")


class _Skip(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in _SKIPPED:
            raise ImportError(f"{name} is not loaded in cellpipe's runner")
        return None


@contextmanager
def _without_optional_extras():
    finder = _Skip()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def load_papermill():
    """Import papermill for the runner process, lean (see ``_SKIPPED``)."""
    os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")
    if "papermill" in sys.modules:
        return sys.modules["papermill"]
    with _without_optional_extras():
        import nbformat  # noqa: F401
        import papermill
        import papermill.engines  # noqa: F401
    return papermill
