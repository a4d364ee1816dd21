"""Executed steps' output notebooks as HTML fragments for the report.

nbconvert's ``basic`` template gives the cells without a page around them (no
CSS or script from a CDN); ``sanitize_html`` strips scripts and event
handlers from the notebooks' own HTML outputs, so a report opened in a
browser runs nothing a step printed; images stay inline as ``data:`` URIs.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from markupsafe import Markup


def _read(store: Any, run_id: str, step: dict[str, Any]) -> bytes | None:
    """The output notebook's bytes from the store's run folder (local or remote), else its recorded path."""
    key = f"runs/{run_id}/{step['step']}.ipynb"
    try:
        if store.storage.exists(key):
            return bytes(store.storage.read_bytes(key))
    except (OSError, ValueError):
        pass
    path = step.get("output_notebook")
    if path:
        from pathlib import Path

        try:
            return Path(path).read_bytes()
        except OSError:
            return None
    return None


@lru_cache(maxsize=1)
def _exporter() -> Any:
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="basic", sanitize_html=True, exclude_anchor_links=True)


def to_html(store: Any, run_id: str, step: dict[str, Any]) -> tuple[Markup | None, str]:
    """The step's output notebook as sanitized HTML, or None and the reason it is missing."""
    import nbformat

    data = _read(store, run_id, step)
    if data is None:
        return None, "its output notebook is not in the store"
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except (ValueError, UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        return None, f"its output notebook cannot be read ({exc})"
    body, _ = _exporter().from_notebook_node(nb)
    return Markup(body), ""  # noqa: S704 - nbconvert escaped the code and sanitized the outputs


def published_checks(store: Any, run_id: str, step: dict[str, Any]) -> list[dict[str, Any]]:
    """The check results a step's check cells displayed in its output notebook (none when it has none)."""
    from cellpipe.engine.checks import MIME

    data = _read(store, run_id, step)
    if data is None:
        return []
    try:
        nb = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return []
    found: list[dict[str, Any]] = []
    for cell in nb.get("cells") or [] if isinstance(nb, dict) else []:
        for output in cell.get("outputs") or []:
            published = (output.get("data") or {}).get(MIME) if isinstance(output, dict) else None
            if isinstance(published, dict) and isinstance(published.get("checks"), list):
                found += [c for c in published["checks"] if isinstance(c, dict)]
    return found


def pygments_css() -> str:
    """The stylesheet of nbconvert's code highlighting (pygments' default style)."""
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="default").get_style_defs(".highlight"))
