"""The compiler: notebooks -> :class:`cellpipe.model.Pipeline`.

Its passes, each a module: ``structure`` (cells -> step drafts), ``dataflow``
(which step produces what another consumes), ``diagnostics`` (the collector of
problems), ``join`` (joining notebooks into one pipeline).
"""

from cellpipe.core.compiler.join import CompileResult, Learned, NotebookSource, compile_notebooks

__all__ = ["CompileResult", "Learned", "NotebookSource", "compile_notebooks"]
