"""The I/O edge of compiling: read notebooks from disk, write the build folder."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cellpipe.core.compiler import CompileResult, NotebookSource, compile_notebooks
from cellpipe.core.emit import dumps_manifest, step_notebook
from cellpipe.core.overrides import parse_params_text
from cellpipe.engine.fileutil import atomic_write_text
from cellpipe.engine.textnotebooks import drop_paired, is_text_notebook, read_text_notebook, write_percent
from cellpipe.errors import CellpipeError, UsageError
from cellpipe.model import Diagnostic, Pipeline


def resolved(path: Path) -> Path:
    """``path`` made absolute with its symlinks followed; a symlink loop (or a
    link the system refuses to follow) is left as it is, for reading to report."""
    try:
        return path.resolve()
    except (RuntimeError, OSError, ValueError):  # a symlink loop (RuntimeError up to Python 3.12); a NUL
        return Path(os.path.abspath(path))


def _declares_cellpipe(pyproject: Path) -> bool:
    """Whether a ``pyproject.toml`` has a ``[tool.cellpipe]`` table."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "cellpipe" not in text:
        return False
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return isinstance(tomllib.loads(text).get("tool", {}).get("cellpipe"), dict)
        except tomllib.TOMLDecodeError:
            return False
    else:  # no tomllib: a table header on a line of its own is enough
        return any(line.strip().startswith(("[tool.cellpipe]", "[tool.cellpipe.")) for line in text.splitlines())


def is_project_root(folder: Path) -> bool:
    """A folder with a ``.cellpipe/`` store, a ``cellpipe.toml``, a ``pyproject.toml``
    with ``[tool.cellpipe]``, or a ``.git`` (folder or worktree file)."""
    if (folder / ".cellpipe").is_dir() or (folder / ".git").exists() or (folder / "cellpipe.toml").is_file():
        return True
    pyproject = folder / "pyproject.toml"
    return pyproject.is_file() and _declares_cellpipe(pyproject)


def project_root_of(folder: Path) -> Path | None:
    """The nearest folder from ``folder`` upward that is a project root; the
    filesystem root never is (a store there is one nobody meant to make)."""
    folder = resolved(folder)
    for candidate in (folder, *folder.parents):
        if candidate.parent == candidate:
            break
        if is_project_root(candidate):
            return candidate
    return None


def find_root(paths: Sequence[Path]) -> Path:
    """The project root of these notebooks: the nearest folder upward from their
    folder with a ``.cellpipe/``, a ``pyproject.toml`` with ``[tool.cellpipe]`` or a
    ``.git``; else the notebooks' (common) folder. The working directory plays no
    part, so manifests, cache keys and the store are the same wherever a command runs."""
    folders = [str(resolved(p).parent) for p in paths]
    start = Path(os.path.commonpath(folders))
    return project_root_of(start) or start


def rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with posix separators."""
    return Path(os.path.relpath(resolved(path), root)).as_posix()


def exists(path: Path) -> bool:
    """Whether ``path`` exists; a path the system cannot even look up does not."""
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: no such file can exist
        return False


def read_source(path: Path, root: Path) -> NotebookSource:
    """Read a notebook file; problems become ``read_error`` for the compiler to report."""
    name = rel(path, root)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 in a file name, decoded with surrogateescape
        try:
            shown = os.fsencode(name).decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate no byte made: show its code
            shown = name.encode("utf-8", "backslashreplace").decode("ascii")
        return NotebookSource(shown, None, "has a file name that is not UTF-8 text; rename the file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return NotebookSource(name, None, "does not exist")
    except IsADirectoryError:
        return NotebookSource(name, None, "is a folder, not a notebook")
    except (OSError, UnicodeDecodeError) as exc:
        return NotebookSource(name, None, f"cannot be read ({exc})")
    except ValueError as exc:  # a NUL character in the path
        return NotebookSource(name.replace("\x00", "\\x00"), None, f"cannot be read ({exc})")
    if is_text_notebook(path):  # a jupytext percent script or a MyST/Markdown notebook
        content, problem = read_text_notebook(path, text)
        return NotebookSource(name, content, problem)
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        return NotebookSource(
            name, None, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        )
    except ValueError as exc:  # a number of more than 4300 digits
        return NotebookSource(name, None, f"cannot be read as a notebook ({exc})")
    except RecursionError:
        return NotebookSource(name, None, "is JSON nested too deeply for a notebook")
    if isinstance(content, dict) and isinstance(content.get("nbformat"), int) and content["nbformat"] < 4:
        try:
            import nbformat

            content = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
        except Exception as exc:  # noqa: BLE001 - any failure to upgrade is reported, not raised
            return NotebookSource(name, None, f"is an old nbformat that could not be upgraded ({exc})")
    return NotebookSource(name, content)


def compile_paths(paths: Sequence[str | Path], root: Path | None = None,
                  check_kernels: bool = False, store: str | None = None,
                  learned: bool = True) -> tuple[CompileResult, Path]:
    """Compile notebook files into a pipeline (nothing is written); with
    ``check_kernels``, a notebook whose kernel is not installed here is an error.

    With ``learned``, what earlier runs recorded in the project's store (``store``
    names it, as ``--store`` does) about in-place changes the analysis did not
    see is part of the pipeline (:func:`learned_changes`).
    """
    if not paths:
        raise UsageError("no notebook given: name one or more .ipynb files (or jupytext .py/.md notebooks)")
    files, paired = drop_paired([Path(p) for p in paths])  # an .ipynb and its jupytext twin count once
    root = resolved(root or find_root(files))
    sources = [read_source(p, root) for p in files]
    known = learned_changes(root, store) if learned else {}
    result = compile_notebooks(sources, exists=lambda p: exists(root / p), learned=known)
    if paired:
        result = CompileResult(result.pipeline, [*_paired_diagnostics(paired, root), *result.diagnostics])
    if check_kernels and result.pipeline is not None:
        from cellpipe.engine.executors.kernels import kernel_diagnostics

        missing = kernel_diagnostics(result.pipeline)
        if missing:
            result = CompileResult(None, result.diagnostics + missing)
    return result, root


def _paired_diagnostics(paired: list[tuple[Path, Path]], root: Path) -> list[Diagnostic]:
    """A warning for twins whose cells differ (the one kept is what runs)."""
    found = []
    for dropped, kept in paired:
        one, other = read_source(kept, root), read_source(dropped, root)
        if one.content is None or other.content is None:
            continue

        def code(content: dict[str, Any]) -> list[str]:
            return ["".join(c.get("source") or "") if isinstance(c.get("source"), list) else c.get("source") or ""
                    for c in content.get("cells", []) if c.get("cell_type") == "code"]

        if code(one.content) != code(other.content):
            found.append(Diagnostic(
                "warning", "CP106", f"{other.path} is paired with {one.path} (jupytext) but their code cells "
                f"differ; cellpipe reads {one.path}", one.path,
                fix=f"synchronise them: jupytext --sync {one.path}"))
    return found


def learned_changes(root: Path, store: str | None = None) -> dict[str, dict[str, dict[str, str]]]:
    """What runs saw steps change in place, from the project's store (read-only; {} without one)."""
    from cellpipe.engine.store import locate_store
    from cellpipe.engine.store.db import Database

    try:
        folder, _ = locate_store(root, store)
    except CellpipeError:
        return {}
    path = folder / "cellpipe.db"
    if not path.is_file():
        return {}
    try:
        db = Database(path, readonly=True)
    except (CellpipeError, sqlite3.Error):
        return {}
    try:
        return db.learned()
    finally:
        db.close()


def write_build(pipeline: Pipeline, out: Path, root: Path, fmt: str = "ipynb") -> list[Path]:
    """Write ``pipeline.json`` and ``steps/<step>.ipynb`` into ``out`` (with ``fmt``
    ``py``: ``steps/<step>.py``, jupytext percent scripts).

    Every file is written atomically. Step notebooks that cellpipe generated for
    steps that no longer exist are removed; no other file is touched.
    """
    out = resolved(out)
    steps_dir = out / "steps"
    for folder in (out, steps_dir):
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"cannot write the build into {out}: {folder} is a file, not a folder. "
                             "Fix: name another folder with -o DIR, or move the file aside")
    try:
        steps_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the build folder {steps_dir}: {exc.strerror or exc}. "
                         "Fix: name a folder you can write to with -o DIR") from exc
    artifacts = str(out / "artifacts")
    written: list[Path] = []
    names = set()
    for step in pipeline.steps:
        workdir = str((root / step.notebook).parent)
        nb = step_notebook(pipeline, step, artifacts=artifacts, workdir=workdir)
        path = steps_dir / f"{step.name}.{fmt}"
        if fmt == "py":
            text = write_percent(nb)
        else:
            text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write_text(path, text)
        written.append(path)
        names.add(path.name)
    for old in [*steps_dir.glob("*.ipynb"), *steps_dir.glob("*.py")]:
        if old.name in names:
            continue
        try:
            text = old.read_text(encoding="utf-8")
            meta = json.loads(text).get("metadata", {}) if old.suffix == ".ipynb" else {}
        except (OSError, ValueError):
            continue
        if (meta.get("cellpipe") or {}).get("generated") or (old.suffix == ".py" and GENERATED_PY in text):
            old.unlink()
    manifest_path = out / "pipeline.json"
    text = dumps_manifest(pipeline)
    if fmt != "ipynb":  # the manifest names the files written
        text = _renamed_steps(text, fmt)
    atomic_write_text(manifest_path, text)
    written.insert(0, manifest_path)
    return written


#: what the header of every step script cellpipe writes says (how a stale one is known)
GENERATED_PY = "Do not edit: edit the source notebook and compile again."


def _renamed_steps(manifest_text: str, fmt: str) -> str:
    """The manifest with each step's ``notebook_file`` in ``fmt``."""
    data = json.loads(manifest_text)
    for step in data.get("steps", []):
        if isinstance(step.get("notebook_file"), str):
            step["notebook_file"] = step["notebook_file"].rsplit(".", 1)[0] + f".{fmt}"
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_params_file(path: str) -> dict[str, Any]:
    """Read overrides from a YAML or JSON file (a mapping of NAME or NOTEBOOK.NAME)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read the parameters file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"the parameters file {path} is not UTF-8 text ({exc.reason})") from exc
    return parse_params_text(text, path)
