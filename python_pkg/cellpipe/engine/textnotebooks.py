"""Text notebooks: jupytext percent scripts (``# %% tags=["step:train"]``) and
MyST/Markdown notebooks are sources like ``.ipynb``, read through jupytext (the
optional extra ``cellpipe[jupytext]``); paired notebooks (an ``.ipynb`` and its
text twin, by jupytext's pairing metadata) count once; compiled steps can be
written as percent scripts.

This is the I/O edge: the compiler only ever sees nbformat dicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cellpipe.errors import UsageError

#: file suffixes read as text notebooks, and jupytext's format for each
TEXT_SUFFIXES = {".py": "py:percent", ".md": "md", ".myst": "md:myst", ".mystnb": "md:myst", ".rmd": "Rmd"}

MISSING = ("is a text notebook, and reading it needs jupytext, which is not installed. "
           "Fix: pip install 'cellpipe[jupytext]'")


def is_text_notebook(path: Path) -> bool:
    """Whether cellpipe reads ``path`` through jupytext."""
    return path.suffix.lower() in TEXT_SUFFIXES


def _jupytext() -> Any:
    try:
        import jupytext
    except ImportError:
        return None
    return jupytext


def read_text_notebook(path: Path, text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The notebook ``text`` holds, as an nbformat 4 dict with cell ids that stay
    the same from one read to the next; or (None, why it cannot be read)."""
    jupytext = _jupytext()
    if jupytext is None:
        return None, MISSING
    suffix = path.suffix.lower()
    fmt = TEXT_SUFFIXES[suffix]
    if suffix == ".md":
        from jupytext.formats import guess_format

        if guess_format(text, ".md")[0] == "myst":
            fmt = "md:myst"
    if suffix == ".py" and "# %%" not in text and "jupytext" not in text:
        return None, ("is a Python file without `# %%` cell markers: a module, not a notebook. Fix: mark its "
                      "cells with `# %%` (jupytext's percent format), or leave it out of the pipeline")
    try:
        nb = jupytext.reads(text, fmt=fmt)
    except Exception as exc:  # noqa: BLE001 - whatever jupytext cannot read is reported, not raised
        return None, f"cannot be read as a {fmt} notebook by jupytext ({type(exc).__name__}: {exc})"
    import nbformat

    content = json.loads(nbformat.writes(nb))
    for n, cell in enumerate(content.get("cells", [])):
        cell["id"] = f"cell-{n}"  # jupytext draws random ids: manifests and diagnostics must not change
    return content, None


def _pairing(path: Path) -> list[Path]:
    """The files jupytext pairs with ``path`` (its ``formats`` metadata), itself excluded.
    jupytext (most of a second to import) is only imported for a notebook that has pairing
    metadata, or for a text notebook."""
    try:
        if path.suffix.lower() == ".ipynb":
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata") or {}
            if not isinstance(meta, dict) or not (meta.get("jupytext") or {}).get("formats"):
                return []
        jupytext = _jupytext()
        if jupytext is None:
            return []
        if path.suffix.lower() != ".ipynb":
            meta = jupytext.read(str(path)).metadata
        formats = (meta.get("jupytext") or {}).get("formats")
        if not formats:
            return []
        from jupytext.formats import long_form_one_format
        from jupytext.paired_paths import paired_paths

        fmt = long_form_one_format(path.suffix.lstrip(".") if path.suffix.lower() == ".ipynb" else
                                   TEXT_SUFFIXES.get(path.suffix.lower(), path.suffix))
        fmt.setdefault("extension", path.suffix)
        pairs = paired_paths(str(path), fmt, formats)
    except Exception:  # noqa: BLE001 - no readable pairing: the file counts on its own
        return []
    return [Path(p).resolve() for p, _ in pairs if Path(p).resolve() != path.resolve()]


def _resolved(path: Path) -> Path:
    """``path`` made absolute with symlinks followed; as given (absolute) when it cannot be
    (a symlink loop, a NUL byte): reading it later reports that, naming the notebook."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return path.absolute()


def drop_paired(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """``paths`` with each paired notebook counted once: of an ``.ipynb`` and its
    jupytext twin both given, the ``.ipynb`` stays (of two text twins, the first).
    Returns (kept, [(dropped, the one kept)])."""
    if len(paths) < 2:  # nothing to count twice
        return list(paths), []
    given = {_resolved(p): p for p in paths}
    dropped: dict[Path, Path] = {}
    for path in paths:
        full = _resolved(path)
        if full in dropped or not path.is_file():
            continue
        for twin in _pairing(path):
            if twin not in given or twin in dropped:
                continue
            if twin.suffix.lower() == ".ipynb" and path.suffix.lower() != ".ipynb":
                dropped[full] = given[twin]
                break
            dropped[twin] = path
    kept = [p for p in paths if _resolved(p) not in dropped]
    return kept, [(given[d], k) for d, k in dropped.items()]


def write_percent(notebook: dict[str, Any]) -> str:
    """A compiled step notebook as a jupytext percent script (text)."""
    jupytext = _jupytext()
    if jupytext is None:
        raise UsageError("writing steps as percent scripts (--format py) needs jupytext. "
                         "Fix: pip install 'cellpipe[jupytext]'")
    import nbformat

    nb = nbformat.from_dict(notebook)
    for cell in nb.cells:  # nbformat's list-of-lines form, as jupytext wants it: one string
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return jupytext.writes(nb, fmt="py:percent")
