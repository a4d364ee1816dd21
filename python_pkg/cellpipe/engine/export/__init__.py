"""Exporters: a compiled pipeline -> another engine's pipeline file.

An exporter reads only what ``cellpipe compile`` makes (the pipeline and its step
notebooks) and writes one file another engine runs: ``kfp`` writes a Kubeflow
Pipelines v2 pipeline (built with the kfp SDK), ``argo`` an Argo ``Workflow``
(built with hera). The runner is never involved.

Exporters are a registry open to plug-ins, like papermill's engines: a package
adds one under the entry-point group ``cellpipe.exporters`` with a callable of
the :class:`Exporter` form, and ``cellpipe export NAME`` finds it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from cellpipe.errors import CellpipeError, PipelineInvalid, UsageError
from cellpipe.model import Pipeline

#: the entry-point group a package uses to add an exporter
ENTRY_POINT_GROUP = "cellpipe.exporters"

#: the exporters that ship with cellpipe: name -> "module:function"
BUILTIN: dict[str, str] = {
    "kfp": "cellpipe.engine.export.kfp:export_kfp",
    "argo": "cellpipe.engine.export.argo:export_argo",
}


class ExportError(CellpipeError):
    """The pipeline cannot be exported as asked (a missing SDK, a value that cannot travel)."""


@dataclass(frozen=True)
class ExportOptions:
    """What a user chooses on the command line or in the panel."""

    #: the container image every step runs in (a step's ``image:`` hint wins)
    image: str | None = None
    #: ``-p NAME=VALUE`` overrides: they become the exported parameters' defaults
    overrides: dict[str, Any] = field(default_factory=dict)
    #: where the project's ``in:`` files live for the cluster (``s3://bucket/prefix``)
    data_uri: str | None = None


@dataclass
class ExportReport:
    """What an exporter wrote, and what the user should know about it."""

    path: Path
    kind: str
    steps: int
    parameters: list[str] = field(default_factory=list)
    #: sentences for the user: hints not applied, files to upload, ...
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "steps": self.steps,
                "parameters": list(self.parameters), "notes": list(self.notes)}


class Exporter(Protocol):
    """An exporter: pipeline, project root, output file, options -> report."""

    def __call__(self, pipeline: Pipeline, root: Path, output: Path, options: ExportOptions) -> ExportReport: ...


def available() -> list[str]:
    """Names of every exporter: the built-in ones and those added by entry points."""
    names = set(BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def get_exporter(name: str) -> Exporter:
    """The exporter called ``name``; an unknown name is a usage error that lists the known ones."""
    if name in BUILTIN:
        module, _, func = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), func)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    raise UsageError(f"unknown exporter {name!r}; the exporters are: {', '.join(available())}")


def require(module: str, extra: str) -> Any:
    """Import an SDK an exporter needs, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExportError(
            f"this export needs the `{module}` package, which is not installed ({exc}). "
            f"Fix: pip install 'cellpipe[{extra}]'"
        ) from exc


def write_output(path: Path, text: str) -> Path:
    """Write ``text`` atomically at ``path`` with the permissions a new file gets here."""
    import os

    from cellpipe.engine.fileutil import atomic_write

    path = path.resolve()
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    os.chmod(path, 0o666 & ~_umask())
    return path


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it."""
    import os

    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def export(
    kind: str,
    notebooks: Sequence[str | Path],
    output: str | Path,
    options: ExportOptions | None = None,
    on_diagnostics: Callable[[list[Any]], None] | None = None,
) -> ExportReport:
    """Compile ``notebooks`` and write the ``kind`` export to ``output``.

    Raises :class:`~cellpipe.errors.PipelineInvalid` when the notebooks do not
    compile (nothing is written), :class:`UsageError` for an unknown exporter and
    :class:`ExportError` when the export cannot be made.
    """
    from cellpipe.engine.project import compile_paths

    exporter = get_exporter(kind)  # an unknown name fails before anything is read
    result, root = compile_paths(list(notebooks))
    if on_diagnostics is not None:
        on_diagnostics(list(result.diagnostics))
    if result.errors or result.pipeline is None:
        raise PipelineInvalid(result.diagnostics)
    return exporter(result.pipeline, root, Path(output), options or ExportOptions())
