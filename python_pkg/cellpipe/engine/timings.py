"""Where an executed step's time went: the per-step timing breakdown.

Each executed step gets, in seconds:

``kernel``
    taking a started kernel from the pool (waiting for one to start when none is ready);
``load``
    linking its inputs into the run's folder, then its parameters, set-up and load cells
    (the load cell also imports the modules the step uses);
``code``
    its own cells and the notebook's shared cells (imports, functions, checks);
``save``
    its save cell, then moving its outputs into the object store;
``record``
    the runner's bookkeeping before the store records it (its key over the files it read);
``other``
    the rest of its wall time: papermill and nbclient around the cells, writing the output
    notebook, handing the result to the runner;
``wall``
    submitted to recorded (the step's time in ``cellpipe show``).

A step reused from the cache carries ``{"cached": true}`` instead. The phases never
overlap and all fall inside ``wall``, so they sum to it (``other`` is the remainder).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: the measured phases, in the order a step goes through them
PHASES = ("kernel", "load", "code", "save", "record")
#: every figure of an executed step's breakdown, in display order
COLUMNS = (*PHASES, "other", "wall")

#: the output notebook's cell roles (``metadata.cellpipe.role``) -> the phase they count in
_ROLE_PHASE = {"parameters": "load", "setup": "load", "load": "load", "settings": "load",
               "step": "code", "shared": "code", "checks": "code", "check": "code", "save": "save"}


def cell_phases(cells: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Seconds per phase of an executed step notebook's code cells, from the durations
    papermill records (``metadata.papermill.duration``). Papermill's injected parameters
    cell counts as ``load``; a cell that did not run counts nothing."""
    out = {"load": 0.0, "code": 0.0, "save": 0.0}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") or {}
        duration = (meta.get("papermill") or {}).get("duration")
        if not isinstance(duration, (int, float)):
            continue
        role = (meta.get("cellpipe") or {}).get("role")
        out[_ROLE_PHASE.get(role or "", "load" if role is None else "code")] += float(duration)
    return out


def breakdown(measured: Mapping[str, float], wall: float) -> dict[str, float]:
    """The stored breakdown: ``measured`` phases (missing ones are 0), ``other`` (what
    is left of ``wall``, never negative) and ``wall``, rounded to the millisecond."""
    phases = {p: max(float(measured.get(p, 0.0)), 0.0) for p in PHASES}
    other = max(wall - sum(phases.values()), 0.0)
    return {**{p: round(v, 4) for p, v in phases.items()}, "other": round(other, 4), "wall": round(wall, 4)}


CACHED = {"cached": True}


def totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's totals over its steps' breakdowns: seconds per figure, and how many
    steps ran and were reused."""
    out: dict[str, Any] = {c: 0.0 for c in COLUMNS}
    executed = cached = 0
    for row in rows:
        timings = row.get("timings")
        if not timings:
            continue
        if timings.get("cached"):
            cached += 1
            continue
        executed += 1
        for c in COLUMNS:
            out[c] += float(timings.get(c) or 0.0)
    return {**{c: round(v, 4) for c, v in out.items()}, "executed": executed, "cached": cached}
