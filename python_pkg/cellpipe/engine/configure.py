"""``cellpipe init``: write a project's ``[tool.cellpipe]`` section from the notebooks it finds.

The section goes at the end of ``pyproject.toml`` (the rest of the file is kept byte for
byte, and the file is replaced atomically), or into a new ``cellpipe.toml`` when the project
has no ``pyproject.toml``. A project that already has settings is never changed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cellpipe.core.tags import parse_tags
from cellpipe.engine.fileutil import atomic_write
from cellpipe.engine.settings import CONFIG_FILE, project_settings, settings_file
from cellpipe.errors import UsageError

#: folders never searched for notebooks: tools' own, environments, builds
SKIPPED = {".ipynb_checkpoints", ".cellpipe", ".git", "node_modules", "build", "dist", "__pycache__",
           "site-packages", ".venv", "venv", ".tox", ".nox"}


@dataclass(frozen=True)
class InitResult:
    """What ``cellpipe init`` wrote: the file and the notebooks listed in it."""

    path: Path
    notebooks: tuple[str, ...]
    created: bool


def has_steps(path: Path) -> bool:
    """Whether a notebook file has a cell tagged as a step (cellpipe's or Kale's spelling)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    cells = content.get("cells") if isinstance(content, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        tags = cell.get("metadata", {}).get("tags") if isinstance(cell, dict) else None
        if tags and parse_tags(tags).step:
            return True
    return False


def find_notebooks(root: Path) -> list[str]:
    """The notebooks under ``root`` with steps, as posix paths relative to it, sorted."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.endswith(".ipynb") and has_steps(path):
                found.append(path.relative_to(root).as_posix())
    return found


def section(notebooks: list[str], header: bool = True) -> str:
    """The settings text: the notebooks, and the other keys commented out with their defaults."""
    listed = ", ".join(json.dumps(n, ensure_ascii=False) for n in notebooks)
    lines = ["[tool.cellpipe]"] if header else []
    lines += [
        "# the notebooks of the pipeline (paths or globs, relative to this file): `cellpipe run` runs them",
        f"notebooks = [{listed}]",
        "# jobs = 4                      # steps run at once (default: the cores)",
        '# executor = "local"            # or "dask"',
        '# params = ["params.yaml"]      # parameters files, applied before --params and -p',
        "# timeout-step = 3600           # seconds; a step's timeout: tag wins",
        '# store = ".cellpipe"           # a folder or an fsspec URL',
        '# remote = "s3://bucket/cache"  # a shared cache looked up before a step runs',
        "# mlflow = true                 # log every run to MLflow (or a tracking URI); pip install 'cellpipe[mlflow]'",
    ]
    return "\n".join(lines) + "\n"


def init_project(root: Path) -> InitResult:
    """Write the settings of the project at ``root`` from the notebooks found under it."""
    existing = settings_file(root)
    if project_settings(root) or (existing.name == CONFIG_FILE and existing.is_file()):
        raise UsageError(f"{existing} already has cellpipe's settings; nothing was changed. "
                         "Fix: edit them there (`notebooks = [...]` lists the pipeline)")
    notebooks = find_notebooks(root)
    if not notebooks:
        raise UsageError(f"no notebook under {root} has a cell tagged step:NAME; nothing was written. "
                         "Fix: tag the cells of a step (see `cellpipe validate`), then run `cellpipe init` again")
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        target = root / CONFIG_FILE
        atomic_write(target, lambda tmp: tmp.write_text(section(notebooks, header=False), encoding="utf-8"))
        return InitResult(target, tuple(notebooks), created=True)
    data = pyproject.read_bytes()
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    gap = b"" if not data else (newline if data.endswith(b"\n") else newline * 2)
    added = section(notebooks).encode("utf-8").replace(b"\n", newline)

    def write(tmp: Path) -> None:
        tmp.write_bytes(data + gap + added)
        shutil.copymode(pyproject, tmp)

    atomic_write(pyproject, write)
    return InitResult(pyproject, tuple(notebooks), created=False)
