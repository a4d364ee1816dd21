"""The command line: a thin face over :mod:`cellpipe.engine`."""

from cellpipe.cli.main import main, run

__all__ = ["main", "run"]
