"""Executors run the steps the runner submits (:mod:`.base` holds the protocol).

Built in: ``local`` (:mod:`.local`: a kernel per step on this machine, from a
pool of kernels started ahead, forked from a preloaded process on Linux) and
``dask`` (:mod:`.dask`: a task per step on a Dask cluster; ``cellpipe[dask]``). More
come from the ``cellpipe.executors`` entry point group, papermill-engine style::

    [project.entry-points."cellpipe.executors"]
    dask = "my_package.dask_executor:DaskExecutor"

An entry is a callable taking keyword options and returning an
:class:`~cellpipe.engine.executors.base.Executor`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cellpipe.engine.executors.base import Executor
from cellpipe.errors import UsageError

GROUP = "cellpipe.executors"

#: name -> "module:attribute", imported only when chosen
_BUILTIN = {"local": "cellpipe.engine.executors.local:LocalExecutor",
            "dask": "cellpipe.engine.executors.dask:DaskExecutor"}
_registered: dict[str, Callable[..., Executor]] = {}


def register(name: str, factory: Callable[..., Executor]) -> None:
    """Make ``factory`` the executor called ``name`` (for code that cannot declare an entry point)."""
    _registered[name] = factory


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of the executors that can be chosen."""
    return sorted({*_BUILTIN, *_registered, *_entry_points()})


def create(name: str = "local", **options: Any) -> Executor:
    """A new executor called ``name``, configured with ``options``."""
    if name in _registered:
        return _registered[name](**options)
    if name in _BUILTIN:
        module, attr = _BUILTIN[name].split(":")
        return getattr(importlib.import_module(module), attr)(**options)
    found = _entry_points().get(name)
    if found is None:
        raise UsageError(f"unknown executor {name!r}; the executors are: {', '.join(available())}")
    return found.load()(**options)
