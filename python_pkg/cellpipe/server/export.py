"""The panel's Export menu: write a notebook's pipeline for Kubeflow Pipelines or
Argo Workflows, under the server's root, with the same exporters as ``cellpipe export``."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from cellpipe.engine.export import ExportOptions, get_exporter
from cellpipe.errors import UsageError
from cellpipe.server.notebooks import load_pipeline
from cellpipe.server.paths import confine, relative
from cellpipe.server.wire import IExportResponse


def export_pipeline(root: Path, path: str, kind: Any, output: Any = None, image: Any = None) -> IExportResponse:
    """Export the notebook saved at ``path`` (default file: ``build/<notebook>.<kind>.yaml``)."""
    if not isinstance(kind, str) or not kind:
        raise UsageError("'kind' must name an exporter: 'kfp' or 'argo'")
    if output is not None and not isinstance(output, str):
        raise UsageError("'output' must be a path relative to the server's root")
    if image is not None and not isinstance(image, str):
        raise UsageError("'image' must be a container image name")
    exporter = get_exporter(kind)  # an unknown kind fails before the notebook is read
    pipeline, rel, project = load_pipeline(root, path)
    stem = posixpath.splitext(posixpath.basename(rel))[0]
    out = confine(root, output or f"build/{stem}.{kind}.yaml")
    report = exporter(pipeline, project, out, ExportOptions(image=image or None))
    return {"path": relative(report.path, root), "kind": report.kind, "steps": report.steps,
            "parameters": list(report.parameters), "notes": list(report.notes)}
