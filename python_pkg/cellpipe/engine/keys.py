"""What a step's cache key is made of, read from the work tree: its code, the
local modules it imports, the installed versions of the packages it imports, the
hashes of its input variables and files, and the parameter values it uses.
The key itself and its explanation are pure (:mod:`cellpipe.core.cachekey`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from cellpipe.core import cachekey as cache
from cellpipe.engine import environment, fileutil
from cellpipe.engine.modules import imported_modules, local_modules, top_level_imports
from cellpipe.engine.store import Store
from cellpipe.model import Pipeline, Step


class KeyParts:
    """Computes key parts for the steps of one pipeline against one store."""

    def __init__(self, pipeline: Pipeline, root: Path, store: Store) -> None:
        self.pipeline = pipeline
        self.root = root
        self.store = store
        self._installed: dict[str, Any] | None = None

    def installed(self) -> dict[str, Any]:
        """Installed distributions (cached in the store; rescanned when site-packages changes)."""
        if self._installed is None:
            self._installed = environment.installed(self.store.folder / "environment.json")
        return self._installed

    def code_sources(self, step: Step) -> list[str]:
        nb = self.pipeline.notebook(step.notebook)
        cells = [nb.cells[i].source for i in nb.shared_cells]
        if nb.parameters_cell is not None:  # its imports run in every step
            cells.append(nb.cells[nb.parameters_cell].source)
        cells += [nb.cells[r.index].source for r in step.cells if nb.cells[r.index].cell_type == "code"]
        return cells + list(step.imports)

    def parts(self, step: Step, outputs: dict[str, dict[str, Any]],
              params: dict[str, Any] | None) -> dict[str, Any]:
        """The step's key parts; ``outputs`` holds its upstream steps' outputs."""
        nb = self.pipeline.notebook(step.notebook)
        sources = self.code_sources(step)
        folder = (self.root / step.notebook).parent
        modules = {
            Path(os.path.relpath(p, self.root)).as_posix(): self.store.file_hash(p)
            for p in local_modules(sources, folder)
        }
        local_names = {Path(m).stem for m in modules} | {Path(m).parent.name for m in modules}
        env = environment.module_versions(top_level_imports(sources) - local_names, self.installed())
        env["python"] = sys.version.split()[0]
        var_inputs = {v.name: outputs[v.producer]["variables"][v.name]["hash"] for v in step.var_inputs}
        files: dict[str, str] = {}
        for rel in step.file_inputs:
            path = self.root / rel
            files[rel] = self.path_hash(path) if path.exists() else cache.MISSING
        values = params or {p.name: p.default for p in nb.parameters}
        return cache.key_parts(step, nb, values, var_inputs, files, modules, env)

    # -- files read at run time, without `in:` -----------------------------------
    def read_hashes(self, paths: list[str] | tuple[str, ...]) -> dict[str, str]:
        """Current content hashes of files a step read at run time (root-relative,
        or absolute outside the root)."""
        out: dict[str, str] = {}
        for rel in paths:
            path = Path(rel) if rel.startswith("/") else self.root / rel
            try:
                out[rel] = self.path_hash(path) if path.exists() else cache.MISSING
            except OSError:
                out[rel] = cache.MISSING
        return out

    def finished(self, parts: dict[str, Any], read: list[str]) -> dict[str, Any]:
        """The parts a finished step is cached under: with the files it read
        (local modules are in ``modules`` already)."""
        paths = [p for p in read if p not in parts.get("modules", {})]
        return cache.with_read(parts, self.read_hashes(paths))

    def with_files_read(self, step: Step, parts: dict[str, Any]) -> dict[str, Any]:
        """The step's parts with the files an earlier run of it read at run time.

        The static key (no such files) is tried first; then, for each set of
        files an earlier run with the same static key read, the key with those
        files' current hashes, the first one in the cache winning. When none is,
        the newest run's set: its key misses, and :func:`cachekey.explain` then
        names the file that changed.
        """
        db = self.store.db
        base = cache.key_of(parts)
        if db.cache_get(base) is not None:
            return cache.with_read(parts, {}, base)
        tried: set[tuple[str, ...]] = set()
        first: dict[str, Any] | None = None
        for entry in db.cache_entries(step.name, step.notebook):
            old = entry["parts"] or {}
            names = tuple(sorted(old.get("read") or {}))
            if not names or names in tried or (old.get("where") or {}).get("base") != base:
                continue
            tried.add(names)
            full = cache.with_read(parts, self.read_hashes(names), base)
            if db.cache_get(cache.key_of(full)) is not None:  # an earlier run read these files as they are
                return full
            first = first or full
        return first or cache.with_read(parts, {}, base)

    def preload_modules(self) -> list[str]:
        """Installed modules the pipeline's code imports (never its local modules)."""
        names: set[str] = set()
        local: set[str] = set()
        for step in self.pipeline.steps:
            sources = self.code_sources(step)
            folder = (self.root / step.notebook).parent
            local |= {p.stem if p.name != "__init__.py" else p.parent.name
                      for p in local_modules(sources, folder)}
            for src in sources:
                names |= {name for name, level in imported_modules(src) if not level and name}
        return sorted(n for n in names if n.split(".")[0] not in local)

    def path_hash(self, path: Path) -> str:
        """A file's content hash; for a folder, the hash of its files' listing."""
        return fileutil.path_hash(path, self.store.file_hash)
